"""Risk analysis: Qlib's ``risk_analysis`` (sum mode, N = 238) plus the few figures a desk asks for.

Qlib's figures are reproduced formula for formula (``qlib/contrib/evaluate.py``): mean, std (ddof 1),
annualized_return = mean × N, information_ratio = mean / std × √N, max_drawdown = min of the cumulative *sum*
minus its running max (negative). The Qlib metric keys (``1day.excess_return_with_cost.annualized_return``)
are what RD-Agent's ``qlib_res.csv`` records, so reconciliation compares like with like.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Qlib's annualisation scaler for daily data (not 252).
N_DAY = 238
QLIB_METRICS = ("mean", "std", "annualized_return", "information_ratio", "max_drawdown")
#: The figures a backtest summary shows, (label, key in `analyse_report`'s output), in display order.
HEADLINE_KPIS = (
    ("excess return w/o cost (ann.)", "1day.excess_return_without_cost.annualized_return"),
    ("excess return with cost (ann.)", "1day.excess_return_with_cost.annualized_return"),
    ("information ratio (with cost)", "1day.excess_return_with_cost.information_ratio"),
    ("max drawdown (with cost)", "1day.excess_return_with_cost.max_drawdown"),
    ("Sharpe (net)", "sharpe"),
    ("win rate", "win_rate"),
    ("total return", "total_return"),
)


def risk_analysis(r: pd.Series, n: int = N_DAY) -> dict[str, float]:
    """Qlib's sum-mode risk analysis of a daily return series."""
    mean = r.mean()
    std = r.std(ddof=1)
    cum = r.cumsum()
    return {
        "mean": float(mean),
        "std": float(std),
        "annualized_return": float(mean * n),
        "information_ratio": float(mean / std * np.sqrt(n)),
        "max_drawdown": float((cum - cum.cummax()).min()),
    }


def analyse_report(report: pd.DataFrame, init_cash: float, n: int = N_DAY) -> dict[str, float]:
    """Qlib-keyed metrics of a backtest report, plus Sharpe, win rate and compounded figures.

    Keys: ``1day.excess_return_{without,with}_cost.{mean,std,annualized_return,information_ratio,
    max_drawdown}`` (Qlib's), ``1day.portfolio_return_with_cost.*``, ``sharpe`` (of the net portfolio return,
    √N-annualised), ``win_rate`` (share of days with positive net excess return), ``total_return`` and
    ``compound_max_drawdown`` of the account value.
    """
    without = report["return"] - report["bench"]
    with_cost = report["return"] - report["bench"] - report["cost"]
    net = report["return"] - report["cost"]
    out: dict[str, float] = {}
    for name, series in (
        ("excess_return_without_cost", without),
        ("excess_return_with_cost", with_cost),
        ("portfolio_return_with_cost", net),
    ):
        for key, value in risk_analysis(series, n).items():
            out[f"1day.{name}.{key}"] = value
    out["sharpe"] = float(net.mean() / net.std(ddof=1) * np.sqrt(n)) if len(net) > 1 else float("nan")
    out["information_ratio"] = out["1day.excess_return_with_cost.information_ratio"]
    out["win_rate"] = float((with_cost > 0).mean())
    account = report["account"]
    out["total_return"] = float(account.iloc[-1] / init_cash - 1)
    peak = np.maximum(account.cummax(), init_cash)
    out["compound_max_drawdown"] = float((account / peak - 1).min())
    return out

"""Live against expectation: the research loop's KPIs and our backtest replay of the same days.

- Replay (preferred when it covers the period): the daily net returns ``return − cost`` of the replay's
  report (``<store>/backtests/<spec>/report.parquet``, Qlib's columns). ``expected_return`` compounds them over
  the period's sessions; ``tracking_error = std(live r − replay r, ddof=1) × √238`` on the common sessions.
- Loop KPIs (``research_loop_kpis``, with-cost basis): they are *excess* figures in Qlib's sum mode, so the
  period's expected excess is ``annualized_return × sessions / 238`` and it is compared with the live excess
  return; ``expected_sharpe`` is the loop's information ratio, ``expected_max_drawdown`` its max drawdown.

The verdict is one line: ``diverging`` when the live result falls short of the expectation by more than one
standard deviation of the period (volatility × √(sessions / 238)), or the tracking error exceeds
`MAX_TRACKING_ERROR`; ``in line`` otherwise; or why there is nothing to compare with.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from aistock_core.preview.nav import PERIODS_PER_YEAR

MAX_TRACKING_ERROR = 0.10
_BASIS = "1day.excess_return_with_cost"


def replay_returns(report_path: Path) -> pd.Series | None:
    """Daily net returns of a replay's report (None when the file is missing)."""
    if not Path(report_path).is_file():
        return None
    report = pd.read_parquet(report_path)
    return (report["return"] - report["cost"]).astype(float).rename("replay")


def loop_kpis(session, loop: str | None) -> dict[str, float] | None:
    """The with-cost KPIs of ``loop`` (``task_run_id/loop_id``), or None when it is unknown or not synced."""
    if not loop or "/" not in loop:
        return None
    from aistock_core.errors import CatalogError
    from aistock_core.strategy.reconcile import kpis_from_db

    run_id, _, loop_id = loop.rpartition("/")
    try:
        kpis = kpis_from_db(session, run_id, int(loop_id))
    except (CatalogError, ValueError):
        return None
    return {k.removeprefix(_BASIS + "."): v for k, v in kpis.items() if k.startswith(_BASIS)} or None


def _num(x: float | None) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def divergence(perf: dict[str, Any], live_returns: pd.Series, replay: pd.Series | None,
               kpis: dict[str, float] | None) -> dict[str, Any]:
    """The contract's ``expectation`` block for ``perf`` (the `figures.performance` block with ``sessions``) and
    its daily returns."""
    n = perf["sessions"]
    spread = (perf["volatility"] or 0.0) * math.sqrt(n / PERIODS_PER_YEAR)
    common = replay.reindex(live_returns.index).dropna() if replay is not None else pd.Series(dtype=float)
    if len(common) == len(live_returns) and len(common) > 0:
        expected = float((1.0 + common).prod() - 1.0)
        diff = live_returns - common
        te = float(diff.std(ddof=1) * math.sqrt(PERIODS_PER_YEAR)) if len(diff) > 1 else None
        std = common.std(ddof=1)
        out = {"source": "backtest replay", "expected_return": _num(expected),
               "expected_sharpe": _num(common.mean() / std * math.sqrt(PERIODS_PER_YEAR)) if std > 0 else None,
               "expected_max_drawdown": _num(float(((1 + common).cumprod() / (1 + common).cumprod().cummax()
                                                    .clip(lower=1.0) - 1).min())),
               "tracking_error": _num(te)}
        live, what = perf["total_return"], "return"
    elif kpis:
        ann = kpis.get("annualized_return")
        out = {"source": "loop KPIs", "expected_return": _num(ann * n / PERIODS_PER_YEAR) if ann is not None
               else None, "expected_sharpe": _num(kpis.get("information_ratio")),
               "expected_max_drawdown": _num(kpis.get("max_drawdown")), "tracking_error": None}
        live, what = perf["excess_return"], "excess return"
    else:
        return {"source": None, "expected_return": None, "expected_sharpe": None, "expected_max_drawdown": None,
                "tracking_error": None,
                "divergence": "no expectation: no research loop KPIs for this instance and no backtest replay "
                              "covering these sessions"}
    expected = out["expected_return"]
    te = out["tracking_error"]
    short = expected is not None and live is not None and live < expected - spread
    wide = te is not None and te > MAX_TRACKING_ERROR
    verdict = "diverging" if short or wide else "in line"
    line = (f"{verdict}: live {what} {_pct(live)} vs {out['source']} {_pct(expected)} over {n} session(s)"
            + (f", tracking error {te:.1%}" if te is not None else ""))
    if short:
        line += f" (short by more than 1σ = {spread:.2%})"
    return {**out, "divergence": line}


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.2%}"

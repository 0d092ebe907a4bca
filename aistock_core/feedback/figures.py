"""The ``performance`` and ``execution`` blocks of a LiveFeedback document (contract §1 definitions).

Returns come from the daily value (NAV = value / initial capital): r_t = V_t / V_{t-1} − 1 with V_{-1} the
value before the period; annual = (1 + total)^(238/n) − 1 (238 = Qlib's N, as `preview.nav.kpis`); volatility =
std(r, ddof=1)·√238; Sharpe = mean(r)/std(r)·√238 (risk-free 0); max drawdown = min(NAV / running peak − 1) ≤ 0,
the peak starting at the value before the period; win rate = share of sessions with r > 0; turnover = traded
value (buys + sells) / mean close value. The benchmark is normalised to 1.0 at the close before the period.

Execution (paper/live; zeros for previews): orders = orders allowed by risk; fill ratio = filled volume /
ordered volume of those; slippage = (fill − decision price)/decision price in bps, signed against the trader
(a buy paying more is positive), volume-weighted; time to fill = traded_at − the slot's decision time;
stamp duty = sell value × the day's rate, commission = the rest of the fees billed (commission + transfer fee).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from aistock_core.data.service import DataService
from aistock_core.db import Database
from aistock_core.feedback.history import AccountHistory, load_history
from aistock_core.feedback.periods import Period
from aistock_core.instances import Instance
from aistock_core.preview.nav import DEFAULT_BENCHMARK, PERIODS_PER_YEAR
from aistock_core.trading.fees import AshareFees

ZERO_EXECUTION = {"orders": 0, "filled_orders": 0, "fill_ratio": 0.0, "avg_slippage_bps": 0.0,
                  "order_reject_count": 0, "cancel_count": 0, "risk_block_count": 0, "avg_fill_seconds": 0.0,
                  "commission": 0.0, "stamp_duty": 0.0}


def number(value) -> float | None:
    """A JSON number: None for NaN/inf (the contract never carries NaN)."""
    return None if value is None or not math.isfinite(float(value)) else float(value)


def benchmark_closes(service: DataService, days: pd.DatetimeIndex, code: str = DEFAULT_BENCHMARK) -> pd.Series:
    """Raw closes of ``code`` on the session before ``days`` and on each of ``days`` (forward-filled)."""
    before = service.calendar.previous(days[0])
    panel = service.get_panel([code], start=before, end=days[-1], fields=["close"], adjust=None)
    series = pd.Series(panel["close"][:, 0], index=panel.dates).ffill()
    return series.reindex(days.insert(0, before)).ffill()


def performance(history: AccountHistory, capital: float, bench: pd.Series,
                benchmark: str = DEFAULT_BENCHMARK) -> dict:
    """The ``performance`` block of the module docstring; ``bench`` as `benchmark_closes` gives it (pure)."""
    value = history.value
    chain = np.concatenate([[history.base_value], value.to_numpy(float)])
    returns = chain[1:] / chain[:-1] - 1.0
    n = len(returns)
    total = chain[-1] / chain[0] - 1.0
    std = float(np.std(returns, ddof=1)) if n > 1 else math.nan
    peak = np.maximum.accumulate(chain)
    bench_nav = (bench / bench.iloc[0]).iloc[1:]
    bench_total = float(bench_nav.iloc[-1] - 1.0)
    return {
        "total_return": number(total),
        "annual_return": number((1.0 + total) ** (PERIODS_PER_YEAR / n) - 1.0),
        "volatility": number(std * math.sqrt(PERIODS_PER_YEAR)),
        "sharpe": number(returns.mean() / std * math.sqrt(PERIODS_PER_YEAR)) if std > 0 else None,
        "max_drawdown": number(min(0.0, float((chain[1:] / peak[1:] - 1.0).min()))),
        "win_rate": number((returns > 0).mean()),
        "turnover": number(history.trades["amount"].abs().sum() / value.mean()),
        "benchmark": benchmark,
        "benchmark_return": number(bench_total),
        "excess_return": number(total - bench_total),
        "nav": [{"date": f"{d:%Y-%m-%d}", "nav": number(v / capital), "benchmark_nav": number(b)}
                for d, v, b in zip(value.index, value.to_numpy(float), bench_nav.reindex(value.index), strict=True)],
    }


def instance_performance(db: Database, service: DataService, instance: Instance,
                         period: Period) -> tuple[AccountHistory, dict]:
    """The instance's account over ``period`` (`load_history`) and its `performance` against the benchmark."""
    history = load_history(db, service, instance, period)
    bench = benchmark_closes(service, pd.DatetimeIndex(history.value.index))
    return history, performance(history, instance.capital, bench)


def _decision_moment(fills: pd.DataFrame) -> pd.Series:
    slot = fills["slot"].fillna("").astype(str).str.replace(":", "", regex=False)
    return fills["day"] + pd.to_timedelta(slot.str[:2].astype(int), unit="h") + \
        pd.to_timedelta(slot.str[2:4].astype(int), unit="m")


def execution(history: AccountHistory, is_preview: bool) -> dict:
    if is_preview:
        return dict(ZERO_EXECUTION)
    orders, fills = history.orders, history.fills
    sent = orders[orders["state"] != "denied"]
    ordered = float(sent["volume"].sum())
    known = fills[fills["decision"].notna() & (fills["decision"] > 0)]
    sign = np.where(known["side"] == "buy", 1.0, -1.0)
    slip = sign * (known["price"] - known["decision"]) / known["decision"] * 1e4
    vol = known["volume"].astype(float)
    timed = known[known["slot"].notna()]
    waits = (pd.to_datetime(timed["traded_at"]).dt.tz_localize(None) - _decision_moment(timed)).dt.total_seconds()
    sells = fills[fills["side"] == "sell"]
    fees = AshareFees()
    rates = pd.Series([fees.stamp_duty(d) for d in sells["day"]], index=sells.index, dtype=float)  # per sell fill
    stamp = float((sells["volume"] * sells["price"] * rates).sum())
    return {
        "orders": len(sent),
        "filled_orders": int((sent["state"] == "filled").sum()),
        "fill_ratio": number(sent["filled_volume"].sum() / ordered) if ordered > 0 else 0.0,
        "avg_slippage_bps": number((slip * vol).sum() / vol.sum()) if vol.sum() > 0 else 0.0,
        "order_reject_count": int((orders["state"] == "rejected").sum()),
        "cancel_count": int((orders["state"] == "canceled").sum()),
        "risk_block_count": int((orders["state"] == "denied").sum()),
        "avg_fill_seconds": number(waits.mean()) if len(waits) else 0.0,
        "commission": number(fills["fee"].sum() - stamp),
        "stamp_duty": number(stamp),
    }

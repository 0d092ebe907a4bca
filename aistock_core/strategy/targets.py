"""Next session's target positions: what the strategy will hold after trading tomorrow on today's scores.

Holdings are path-dependent (TopkDropout only rotates ``n_drop`` names a day), so the day's holdings are
rebuilt by replaying the strategy over a look-back window, then one more session is simulated at today's
closing prices with no limits (tomorrow's prices are unknown; the execution side re-checks tradability).
The result is a weight per instrument plus the action against today's holdings.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from aistock_core.errors import StrategyError
from aistock_core.strategy.backtest.engine import run_backtest
from aistock_core.strategy.backtest.market import MarketData
from aistock_core.strategy.base import Strategy
from aistock_core.trading.qlib_rules import QlibExchangeConfig


def with_next_session(market: MarketData, next_day: pd.Timestamp) -> MarketData:
    """``market`` plus a row for ``next_day`` that repeats the last close (no change, nothing suspended anew)."""
    last = {name: getattr(market, name) for name in ("close", "factor", "volume")}
    rows = {name: np.vstack([arr, arr[-1:]]) for name, arr in last.items()}
    change = np.vstack([market.change, np.where(np.isnan(market.close[-1:]), np.nan, 0.0)])
    return replace(
        market,
        dates=market.dates.append(pd.DatetimeIndex([next_day])).rename("datetime"),
        change=change,
        listed=np.vstack([market.listed, market.listed[-1:]]),
        bench_close=np.append(market.bench_close, market.bench_close[-1]).astype(np.float32),
        limit_up=None, limit_down=None, st=None,
        **rows,
    )


def next_day_targets(
    market: MarketData, scores: pd.Series, strategy: Strategy, next_day: pd.Timestamp, account: float = 1e8
) -> pd.DataFrame:
    """Target weights for ``next_day`` (index instrument): ``weight``, ``shares`` (real shares: Qlib's adjusted
    amount × factor), ``today_weight`` and ``action`` (buy / sell / hold)."""
    if next_day <= market.dates[-1]:
        raise StrategyError(f"next_day {next_day:%Y-%m-%d} must follow the market's last day {market.dates[-1]:%F}")
    extended = with_next_session(market, next_day)
    result = run_backtest(extended, scores, strategy, mode="qlib", account=account,
                          exchange=QlibExchangeConfig(limit_threshold=None))
    pos = result.positions
    days = pos.index.get_level_values("datetime")
    tomorrow = pos[days == next_day].droplevel("datetime")
    today = pos[days == market.dates[-1]].droplevel("datetime")
    factor = pd.Series(market.factor[-1], index=market.instruments)
    shares = tomorrow["amount"] * factor.reindex(tomorrow.index)
    out = pd.DataFrame({"weight": tomorrow["weight"], "shares": shares}).join(
        today["weight"].rename("today_weight"), how="outer"
    )
    out[["weight", "shares", "today_weight"]] = out[["weight", "shares", "today_weight"]].fillna(0.0)
    out["action"] = np.select(
        [out["today_weight"] == 0, out["weight"] == 0], ["buy", "sell"], default="hold"
    )
    out.index.name = "instrument"
    return out.sort_values("weight", ascending=False)

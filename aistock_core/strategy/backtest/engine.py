"""`run_backtest`: scores + a strategy + market data → `BacktestResult`, in Qlib mode or A-share mode."""

from __future__ import annotations

from typing import Literal

import pandas as pd

from aistock_core.errors import StrategyError
from aistock_core.strategy.backtest.ashare_mode import AshareConfig, AshareExchange
from aistock_core.strategy.backtest.market import MarketData
from aistock_core.strategy.backtest.qlib_mode import QlibExchange, QlibExchangeConfig
from aistock_core.strategy.backtest.report import BacktestResult, run_days
from aistock_core.strategy.base import Strategy
from aistock_core.strategy.scores import score_grid

Mode = Literal["qlib", "ashare"]


def run_backtest(
    market: MarketData,
    scores: pd.DataFrame | pd.Series,
    strategy: Strategy,
    *,
    mode: Mode = "qlib",
    account: float = 1e8,
    exchange: QlibExchangeConfig | AshareConfig | None = None,
) -> BacktestResult:
    """Backtest ``strategy`` on every session of ``market`` after its warm-up row.

    ``mode="qlib"`` reproduces Qlib 0.9.7's daily backtest (exchange config: `QlibExchangeConfig`);
    ``mode="ashare"`` applies real A-share rules (`AshareConfig`). Scores are validated and aligned first, so a
    bad score frame fails before any day is simulated.
    """
    if account <= 0:
        raise StrategyError(f"account must be positive, got {account}")
    grid = score_grid(scores, market.dates, market.instruments)
    t0, t1 = market.first_trade_row, len(market.dates) - 1
    if t1 < t0:
        raise StrategyError("the backtest window holds no trade day after the warm-up session")
    if mode == "qlib":
        cfg = exchange if exchange is not None else QlibExchangeConfig()
        if not isinstance(cfg, QlibExchangeConfig):
            raise StrategyError(f"mode 'qlib' takes a QlibExchangeConfig, got {type(cfg).__name__}")
        ex = QlibExchange(market, cfg, t0, t1)
    elif mode == "ashare":
        cfg = exchange if exchange is not None else AshareConfig()
        if not isinstance(cfg, AshareConfig):
            raise StrategyError(f"mode 'ashare' takes an AshareConfig, got {type(cfg).__name__}")
        ex = AshareExchange(market, cfg)
    else:
        raise StrategyError(f"unknown backtest mode {mode!r}; use 'qlib' or 'ashare'")
    result = run_days(market, grid, strategy, ex, mode=mode, t0=t0, t1=t1, init_cash=account)
    if isinstance(ex, AshareExchange):
        result.corporate_actions = ex.actions.describe()
    return result

"""Strategy decisions on hand-built days, and configs from catalog blocks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aistock_core.errors import StrategyError
from aistock_core.strategy.backtest.market import MarketData
from aistock_core.strategy.backtest.qlib_mode import QlibExchange, QlibExchangeConfig
from aistock_core.strategy.base import DayContext
from aistock_core.strategy.config import BacktestSettings, strategy_by_name, strategy_from_config
from aistock_core.strategy.enhanced import EnhancedTopkDropoutStrategy
from aistock_core.strategy.topk import TopkDropoutStrategy
from aistock_core.strategy.weights import WeightedTopkStrategy, cap_weights
from aistock_core.trading.account import Account
from aistock_core.trading.orders import REASON_CODE

N = 6
CODES = [f"60000{i}.SH" for i in range(N)]


def exchange(close_today: np.ndarray | None = None, change: np.ndarray | None = None) -> QlibExchange:
    close = np.full((2, N), 10.0)
    if close_today is not None:
        close[1] = close_today
    ch = np.zeros((2, N)) if change is None else np.vstack([np.zeros(N), change])
    m = MarketData(
        dates=pd.DatetimeIndex(["2024-01-04", "2024-01-05"]), instruments=pd.Index(CODES), close=close,
        factor=np.ones((2, N)), change=ch, volume=np.full((2, N), 1e6), listed=np.ones((2, N), dtype=bool),
        bench_close=np.ones(2, dtype=np.float32),
    )
    return QlibExchange(m, QlibExchangeConfig(open_cost=0.0, close_cost=0.0, min_cost=0.0), 1, 1)


def holding(idx: list[int], cash: float = 0.0, amount: float = 1000.0) -> Account:
    acc = Account.empty(N, cash)
    acc.amount[idx], acc.held[idx], acc.price[idx], acc.entry_price[idx], acc.count[idx] = amount, True, 10.0, 10.0, 5
    return acc


def test_topk_dropout_sells_the_worst_holding_and_buys_the_best_outsider():
    scores = np.array([0.9, 0.1, 0.5, 0.8, 0.0, -0.3])
    acc = holding([1, 2, 3])
    orders = TopkDropoutStrategy(topk=3, n_drop=1, risk_degree=1.0).decide(DayContext(1, scores, acc, exchange()))
    assert orders.sell_idx.tolist() == [1] and orders.buy_idx.tolist() == [0]
    assert orders.buy_amount[0] == 1000  # the sale's 10 000 cash, all of it, at 10 per share


def test_topk_dropout_keeps_a_limit_down_holding():
    scores = np.array([0.9, 0.1, 0.5, 0.8, 0.0, -0.3])
    ex = exchange(change=np.array([0, -0.1, 0, 0, 0, 0]))
    orders = TopkDropoutStrategy(topk=3, n_drop=1).decide(DayContext(1, scores, holding([1, 2, 3]), ex))
    assert orders.sell_idx.tolist() == []
    assert orders.buy_idx.tolist() == [0]  # Qlib still buys: len(sell) counted the refused holding


def test_enhanced_stop_loss_take_profit_and_liquidation():
    close = np.array([8.9, 11.6, 10.0, 14.0, 10.0, 10.0])  # 0: -11% stop; 1: +16% first TP; 3: +40% all out
    scores = np.array([0.5, 0.5, 0.05, 0.5, 0.6, 0.7])  # 2 falls below min_score → liquidated
    acc = holding([0, 1, 2, 3], cash=100_000)
    strat = EnhancedTopkDropoutStrategy(topk=4, min_score=0.1)
    orders = strat.decide(DayContext(1, scores, acc, exchange(close)))
    sells = dict(zip(orders.sell_idx.tolist(), zip(orders.sell_amount, orders.sell_reason, strict=True), strict=True))
    assert sells[0] == (1000, REASON_CODE["stop_loss"])
    assert sells[1] == (300, REASON_CODE["take_profit"]) and acc.tp_base[1] == 1000
    assert sells[3] == (1000, REASON_CODE["take_profit"])
    assert sells[2] == (1000, REASON_CODE["not_in_candidates"])
    # All four holdings are being sold (wholly or partly): four slots, best non-held candidates first, ∝ score².
    assert orders.buy_idx.tolist() == [5, 4]
    w = np.array([0.7, 0.6, 0.5, 0.5]) ** 2  # weights over the top-4 candidates
    expected = 100_000 * 0.9 * w[:2] / w.sum() / 10.0
    np.testing.assert_allclose(orders.buy_amount, np.floor(expected / 100) * 100)


def test_cap_weights_redistributes_and_respects_the_cap():
    w = cap_weights(np.array([0.6, 0.2, 0.1, 0.1]), 0.3)
    assert w.max() <= 0.3 + 1e-12 and w.sum() == pytest.approx(1.0)
    assert cap_weights(np.full(2, 0.5), 0.3).sum() == pytest.approx(0.6)  # the rest stays cash


def test_weighted_topk_rebalances_to_equal_weights():
    scores = np.array([0.9, 0.8, 0.1, 0.0, -0.1, -0.2])
    acc = holding([3], cash=10_000, amount=1000)  # 10 000 cash + 10 000 in a name leaving the top 2
    orders = WeightedTopkStrategy(topk=2, risk_degree=1.0).decide(DayContext(1, scores, acc, exchange()))
    assert orders.sell_idx.tolist() == [3] and orders.sell_amount[0] == 1000
    assert orders.buy_idx.tolist() == [0, 1] and orders.buy_amount.tolist() == [1000, 1000]


def test_strategy_from_catalog_blocks():
    qlib_block = {"class": "TopkDropoutStrategy", "module_path": "qlib.contrib.strategy",
                  "kwargs": {"signal": "<PRED>", "topk": 50, "n_drop": 5}}
    assert strategy_from_config(qlib_block) == TopkDropoutStrategy(topk=50, n_drop=5)
    rd_block = {"class": "EnhancedTopkDropoutStrategy", "kwargs": {"signal": "<PRED>", "topk": 50, "n_drop": 5,
                                                                   "min_score": 0.1, "max_position_ratio": 0.9,
                                                                   "stop_loss": -0.1}}
    assert isinstance(strategy_from_config(rd_block), EnhancedTopkDropoutStrategy)
    with pytest.raises(StrategyError, match=r"unknown kwarg\(s\) \['hold_tresh'\]"):
        strategy_from_config({"class": "TopkDropoutStrategy", "kwargs": {"topk": 5, "n_drop": 1, "hold_tresh": 2}})
    with pytest.raises(StrategyError, match="not supported"):
        strategy_from_config({"class": "SoftTopkStrategy", "kwargs": {}})
    assert strategy_by_name("topk-score", topk=3, n_drop=1).method == "score"


def test_backtest_settings_from_qlib_block():
    s = BacktestSettings.from_qlib({
        "start_time": "2024-07-01", "end_time": "2025-11-28", "account": 1e8, "benchmark": "SH000300",
        "exchange_kwargs": {"limit_threshold": 0.095, "deal_price": "close", "open_cost": 0.0005,
                            "close_cost": 0.0015, "min_cost": 5},
    })
    assert s.benchmark == "000300.SH" and s.exchange.open_cost == 0.0005 and s.end == pd.Timestamp("2025-11-28")
    with pytest.raises(StrategyError, match="slippage"):
        BacktestSettings.from_qlib({"exchange_kwargs": {"slippage": 0.1}})
    with pytest.raises(StrategyError, match="deal_price"):
        BacktestSettings.from_qlib({"exchange_kwargs": {"deal_price": "open"}})

"""A-share mode: one test per market rule, on hand-built arrays where the expected fill is known exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aistock_core.strategy.backtest.ashare_mode import AshareConfig, AshareExchange
from aistock_core.strategy.backtest.market import MarketData
from aistock_core.trading.account import Account
from aistock_core.trading.fees import AshareFees
from aistock_core.trading.orders import REASON_CODE

CODES = ["600000.SH", "688001.SH", "000001.SZ"]
DATES = pd.DatetimeIndex(["2023-08-23", "2023-08-24", "2023-08-25", "2023-08-28", "2023-08-29"], name="datetime")


def market(close: np.ndarray | None = None, listed: np.ndarray | None = None, volume: float = 1e6) -> MarketData:
    t, n = len(DATES), len(CODES)
    close = np.full((t, n), 10.0) if close is None else close
    listed = np.ones((t, n), dtype=bool) if listed is None else listed
    close = np.where(listed, close, np.nan)
    return MarketData(
        dates=DATES, instruments=pd.Index(CODES, name="instrument"), close=close, factor=np.ones((t, n)),
        change=np.zeros((t, n)), volume=np.full((t, n), volume), listed=listed,
        bench_close=np.ones(t, dtype=np.float32),
    )


def account(amounts: dict[int, float], cash: float = 1e6, sellable: bool = True) -> Account:
    acc = Account.empty(len(CODES), cash)
    for i, a in amounts.items():
        acc.amount[i], acc.held[i], acc.price[i], acc.entry_price[i] = a, True, 10.0, 10.0
    acc.sellable = acc.amount.copy() if sellable else np.zeros(len(CODES))
    return acc


def sell(ex, acc, t, i, amount):
    return ex.sell(acc, t, np.array([i]), np.array([float(amount)]), np.array([0]))


def test_t_plus_one_refuses_selling_shares_bought_today():
    ex = AshareExchange(market(), AshareConfig())
    acc = account({})
    bought = ex.buy(acc, 1, np.array([0]), np.array([1000.0]), np.array([7]))
    assert bought.status_text()[0] == "filled" and acc.amount[0] == 1000
    refused = sell(ex, acc, 1, 0, 1000)
    assert refused.status_text()[0].startswith("refused: T+1") and refused.amount[0] == 0 and acc.amount[0] == 1000
    ex.bar_end(acc, 1)
    ex.start_day(acc, 2)  # next session: yesterday's shares are sellable, and the sale's cash is usable today
    cash_before = acc.cash
    done = sell(ex, acc, 2, 0, 1000)
    assert done.status_text()[0] == "filled" and not acc.held[0]
    assert acc.cash == pytest.approx(cash_before + done.value[0] - done.cost[0])
    again = ex.buy(acc, 2, np.array([2]), np.array([(acc.cash - 100) / 10.0]), np.array([7]))
    assert again.status_text()[0] == "filled"


def test_limit_up_close_refuses_buys_but_not_sells():
    close = np.full((len(DATES), len(CODES)), 10.0)
    close[2, 0] = 11.0  # +10% on the main board: sealed at the upper limit
    close[2, 1] = 11.0  # +10% on STAR (limit 20%): not at the limit
    ex = AshareExchange(market(close), AshareConfig())
    acc = account({0: 500})
    fills = ex.buy(acc, 2, np.array([0, 1]), np.array([1000.0, 1000.0]), np.array([7, 7]))
    assert list(fills.status_text()) == ["refused: limit up", "filled"]
    assert sell(ex, acc, 2, 0, 500).status_text()[0] == "filled"


def test_limit_down_refuses_sells_against_previous_raw_close():
    close = np.full((len(DATES), len(CODES)), 10.0)
    close[3, 2] = 9.0  # 000001.SZ at -10%
    ex = AshareExchange(market(close), AshareConfig())
    acc = account({2: 1000})
    assert sell(ex, acc, 3, 2, 1000).status_text()[0] == "refused: limit down"
    assert acc.amount[2] == 1000


def test_stamp_duty_halves_on_2023_08_28():
    fees = AshareFees(commission=0.00025, min_commission=5.0, transfer_fee=0.00001)
    ex = AshareExchange(market(), AshareConfig(fees=fees))
    before = sell(ex, account({0: 10_000}), 2, 0, 10_000)  # 2023-08-25
    after = sell(ex, account({0: 10_000}), 3, 0, 10_000)  # 2023-08-28
    value = 100_000.0
    assert before.cost[0] == pytest.approx(value * 0.00025 + value * 0.00001 + value * 0.001)
    assert after.cost[0] == pytest.approx(value * 0.00025 + value * 0.00001 + value * 0.0005)
    buy = ex.buy(account({}), 3, np.array([0]), np.array([100.0]), np.array([7]))
    assert buy.cost[0] == pytest.approx(5.0 + 1000 * 0.00001)  # 5-yuan minimum commission, no stamp duty


def test_star_market_minimum_200_then_steps_of_one():
    ex = AshareExchange(market(), AshareConfig())
    star, main = np.array([1]), np.array([0])
    assert ex.round_buy(1, star, np.array([199.0]))[0] == 0
    assert ex.round_buy(1, star, np.array([257.9]))[0] == 257
    assert ex.round_buy(1, main, np.array([257.9]))[0] == 200
    acc = account({})
    fills = ex.buy(acc, 1, np.array([1, 1]), np.array([150.0, 201.0]), np.array([7, 7]))
    assert list(fills.status_text()) == ["refused: rounds to zero", "filled"] and acc.amount[1] == 201


def test_delisting_sells_on_last_listed_session():
    listed = np.ones((len(DATES), len(CODES)), dtype=bool)
    listed[3:, 2] = False  # 000001.SZ's last session is row 2
    ex = AshareExchange(market(listed=listed), AshareConfig())
    acc = account({2: 1000})
    assert len(ex.start_day(acc, 1).idx) == 0
    fills = ex.start_day(acc, 2)
    assert fills.reason[0] == REASON_CODE["delisting"] and fills.status_text()[0] == "filled" and not acc.held[2]


def test_delisting_while_suspended_books_the_exit_at_last_price():
    close = np.full((len(DATES), len(CODES)), 10.0)
    close[1, 2] = 8.0
    close[2, 2] = np.nan  # suspended on its last listed session: cannot sell
    listed = np.ones((len(DATES), len(CODES)), dtype=bool)
    listed[3:, 2] = False
    ex = AshareExchange(market(close, listed), AshareConfig())
    acc = account({2: 1000})
    ex.bar_end(acc, 1)
    assert len(ex.start_day(acc, 2).idx) == 0 and acc.held[2]
    out = ex.start_day(acc, 3)
    assert out.reason[0] == REASON_CODE["delisted_writeoff"] and out.price[0] == 8.0 and not acc.held[2]


def test_participation_cap_limits_order_size():
    ex = AshareExchange(market(volume=10_000), AshareConfig(participation=0.1))
    acc = account({})
    fills = ex.buy(acc, 1, np.array([0]), np.array([5000.0]), np.array([7]))
    assert fills.amount[0] == 1000


def test_suspended_stock_does_not_trade():
    close = np.full((len(DATES), len(CODES)), 10.0)
    close[2, 0] = np.nan
    ex = AshareExchange(market(close), AshareConfig())
    assert sell(ex, account({0: 100}), 2, 0, 100).status_text()[0] == "refused: suspended"

"""A-share mode across ex-dates, on hand-built arrays with hand-computed entitlements, references and limits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aistock_core.strategy.backtest.ashare_mode import AshareConfig, AshareExchange
from aistock_core.strategy.backtest.market import MarketData
from aistock_core.trading.account import Account
from aistock_core.trading.corporate_actions import CorporateActions
from aistock_core.trading.fees import AshareFees

CODES = ["600000.SH", "000001.SZ"]
DATES = pd.DatetimeIndex(["2024-03-01", "2024-03-04", "2024-03-05", "2024-03-06"], name="datetime")
NO_FEES = AshareConfig(fees=AshareFees.zero())


def market(close: list[list[float]], cash=None, bonus=None, factor=None, from_table=True) -> MarketData:
    close = np.asarray(close, dtype=float)
    t, n = close.shape
    factor = np.ones((t, n)) if factor is None else np.asarray(factor, dtype=float)
    actions = None
    if cash is not None or bonus is not None:
        actions = CorporateActions(
            cash=np.zeros((t, n)) if cash is None else np.asarray(cash, dtype=float),
            bonus=np.zeros((t, n)) if bonus is None else np.asarray(bonus, dtype=float),
            from_table=from_table,
        )
    return MarketData(
        dates=DATES[:t], instruments=pd.Index(CODES, name="instrument"), close=close * factor, factor=factor,
        change=np.zeros((t, n)), volume=np.full((t, n), 1e7), listed=np.ones((t, n), dtype=bool),
        bench_close=np.ones(t, dtype=np.float32), actions=actions,
    )


def holding(ex: AshareExchange, shares: float, price: float, cash: float = 0.0) -> Account:
    """An account that bought ``shares`` of CODES[0] on row 0 and marked them at ``price``."""
    acc = Account.empty(len(CODES), cash + shares * price)
    ex.start_day(acc, 0)
    fills = ex.buy(acc, 0, np.array([0]), np.array([shares]), np.array([7]))
    assert fills.amount[0] == shares
    ex.bar_end(acc, 0)
    return acc


def value(acc: Account) -> float:
    return acc.cash + float(np.nansum(np.where(acc.held, acc.amount * acc.price, 0.0)))


def test_ten_for_ten_bonus_doubles_the_holding_new_shares_list_next_session():
    bonus = [[0, 0], [1.0, 0], [0, 0], [0, 0]]
    ex = AshareExchange(market([[20.0, 5.0], [10.3, 5.0], [10.5, 5.0], [10.5, 5.0]], bonus=bonus), NO_FEES)
    acc = holding(ex, 1000, 20.0)
    before = value(acc)  # 20,000
    ex.start_day(acc, 1)
    assert acc.amount[0] == 2000 and acc.sellable[0] == 1000
    assert value(acc) == pytest.approx(before)  # marked at the ex-rights reference 10.00: continuous
    assert ex.reference[1, 0] == 10.00 and (ex.limit_up[1, 0], ex.limit_down[1, 0]) == (11.00, 9.00)
    [event] = acc.events
    assert (event.kind, event.idx.tolist(), event.shares.tolist()) == ("bonus_shares", [0], [1000.0])
    sold = ex.sell(acc, 1, np.array([0]), np.array([2000.0]), np.array([0]))
    assert sold.amount[0] == 1000  # the bonus shares are not listed yet
    ex.bar_end(acc, 1)
    ex.start_day(acc, 2)
    assert acc.sellable[0] == 1000 == acc.amount[0]


def test_cash_dividend_paid_in_and_taxed_on_a_sale_within_a_month():
    cash = [[0, 0], [0.30, 0], [0, 0], [0, 0]]
    ex = AshareExchange(market([[12.34, 5.0], [12.10, 5.0], [12.20, 5.0], [12.20, 5.0]], cash=cash), NO_FEES)
    acc = holding(ex, 1000, 12.34)
    ex.start_day(acc, 1)
    assert acc.cash == pytest.approx(300.0) and ex.reference[1, 0] == 12.04
    assert value(acc) == pytest.approx(12_340.0)
    ex.bar_end(acc, 1)
    ex.start_day(acc, 2)
    sold = ex.sell(acc, 2, np.array([0]), np.array([1000.0]), np.array([0]))
    # Held 2024-03-01 → 2024-03-05 (≤ 1 month): 20% of the 300 received, collected with the sale.
    assert sold.cost[0] == pytest.approx(60.0)
    assert acc.cash == pytest.approx(300.0 + 12_200.0 - 60.0)
    assert [e.kind for e in acc.events] == ["cash_dividend", "dividend_tax"]
    assert acc.events[1].cash.tolist() == pytest.approx([-60.0])


def test_limit_day_after_an_ex_date_uses_the_reference_price():
    # The case: previous close 234.03, 10 送 10 派 66.3 → reference 113.70, band 102.33–125.07.
    cash, bonus = [[0, 0], [6.63, 0]], [[0, 0], [1.0, 0]]
    ex = AshareExchange(market([[234.03, 5.0], [121.80, 5.0]], cash=cash, bonus=bonus), NO_FEES)
    assert (ex.limit_down[1, 0], ex.limit_up[1, 0]) == (102.33, 125.07)
    assert ex.tradable(1, "sell")[0]  # 121.80 is inside the band (against 234.03 it looked limit-down)
    at_floor = AshareExchange(market([[234.03, 5.0], [102.33, 5.0]], cash=cash, bonus=bonus), NO_FEES)
    acc = holding(at_floor, 100, 234.03)
    at_floor.start_day(acc, 1)
    refused = at_floor.sell(acc, 1, np.array([0]), np.array([100.0]), np.array([0]))
    assert refused.status_text()[0] == "refused: limit down" and refused.amount[0] == 0


def test_down_limit_of_a_close_read_back_as_8_749999943_is_7_88():
    factor = [[1.7, 1.0], [1.7, 1.0]]
    adj = np.float32(8.75 * 1.7)  # what a Qlib bin stores; ÷ 1.7 reads back a few 1e-8 below 8.75
    raw_prev = float(adj) / 1.7
    ex = AshareExchange(market([[raw_prev, 5.0], [7.88, 5.0]], factor=factor), NO_FEES)
    assert ex.limit_down[1, 0] == 7.88
    assert not ex.tradable(1, "sell")[0]  # a close at the real limit: no sale goes through


def test_factor_step_is_credited_as_fractional_bonus_shares_value_continuous():
    factor = [[1.0, 1.0], [1.0, 1.0], [1.37, 1.0], [1.37, 1.0]]
    ex = AshareExchange(market([[10.0, 5.0], [10.0, 5.0], [7.5, 5.0], [7.6, 5.0]], factor=factor), NO_FEES)
    acc = holding(ex, 1000, 10.0)
    ex.start_day(acc, 1)
    ex.bar_end(acc, 1)
    ex.start_day(acc, 2)
    assert acc.amount[0] == pytest.approx(1370.0) and ex.reference[2, 0] == 7.30  # 10 / 1.37 = 7.299…
    assert value(acc) == pytest.approx(10_000.0)


def test_a_sale_priced_by_sell_proceeds_is_booked_as_if_dealt_again(monkeypatch):
    """`sell` adopts the probe of `sell_proceeds` for the same orders on the untouched account: the fills, the
    account and its events (the dividend tax here) are what dealing them a second time gives; other orders or a
    touched account are dealt afresh."""
    from aistock_core.strategy.backtest import ashare_mode

    cash = [[0, 0], [0.30, 0], [0, 0], [0, 0]]
    ex = AshareExchange(market([[12.34, 5.0], [12.10, 5.0], [12.20, 5.0], [12.20, 5.0]], cash=cash),
                        AshareConfig())

    def sale(reuse: bool):
        monkeypatch.setattr(ashare_mode._Probe, "matches", ashare_mode._Probe.matches if reuse else
                            lambda *args: False)
        acc = holding(ex, 1000, 12.34, cash=5000.0)
        ex.start_day(acc, 1)
        ex.bar_end(acc, 1)
        ex.start_day(acc, 2)
        idx, amount = np.array([0]), np.array([600.0])
        proceeds = ex.sell_proceeds(acc, 2, idx, amount)
        fills = ex.sell(acc, 2, idx, amount, np.array([3]))
        return proceeds, fills, acc

    (p1, f1, a1), (p2, f2, a2) = sale(True), sale(False)
    assert p1 == p2 == a1.cash == a2.cash and f1.reason.tolist() == [3] and f1.cost[0] > 0
    for name in ("idx", "amount", "price", "value", "cost", "reason", "status"):
        np.testing.assert_array_equal(getattr(f1, name), getattr(f2, name))
    for name in ("amount", "held", "sellable", "dividend", "opened"):
        np.testing.assert_array_equal(getattr(a1, name), getattr(a2, name))
    assert [(e.kind, e.cash.tolist()) for e in a1.events] == [(e.kind, e.cash.tolist()) for e in a2.events]
    assert [e.kind for e in a1.events] == ["cash_dividend", "dividend_tax"]
    # The same orders on an account touched since the probe are dealt again, not adopted.
    acc = holding(ex, 1000, 12.34, cash=5000.0)
    ex.start_day(acc, 1)
    idx, amount = np.array([0]), np.array([600.0])
    ex.sell_proceeds(acc, 1, idx, amount)
    acc.cash -= 100.0
    before = acc.amount[0]
    ex.sell(acc, 1, idx, amount, np.array([3]))
    assert acc.amount[0] == before - 600 and acc.cash < 5000.0 + 300.0 - 100.0 + 600 * 12.10

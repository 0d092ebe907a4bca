"""Portfolio engine and order planner on hand-made quotes; expected numbers worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aistock_core.errors import ConfigError, StrategyError
from aistock_core.execution.domain import AccountSnapshot, Position
from aistock_core.execution.planner import PlanParams, limit_order_price, plan_orders
from aistock_core.execution.portfolio import PortfolioParams, scaled_weights, target_shares
from aistock_core.execution.quotes import build_quotes
from aistock_core.trading.fees import AshareFees

DAY = pd.Timestamp("2024-07-01")


def quotes(rows: dict[str, tuple[float, float]], **kw) -> pd.DataFrame:
    symbols = list(rows)
    return build_quotes(symbols, np.array([r[0] for r in rows.values()]), np.array([r[1] for r in rows.values()]),
                        **kw)


def test_limit_band_is_exact_per_board():
    q = quotes({"600000.SH": (10.0, 10.0), "300750.SZ": (10.0, 10.0), "688001.SH": (10.0, 10.0),
                "430047.BJ": (10.0, 10.0), "000001.SZ": (8.75, 8.75)}, st=np.array([0, 0, 0, 0, 1], bool))
    assert q["limit_up"].tolist() == [11.0, 12.0, 12.0, 13.0, 9.19]  # 8.75 × 1.05 = 9.1875 → 9.19 half up
    assert q["limit_down"].tolist() == [9.0, 8.0, 8.0, 7.0, 8.31]  # 8.75 × 0.95 = 8.3125 → 8.31


def test_weights_are_capped_then_scaled_to_the_reserve():
    w = scaled_weights(pd.Series({"A": 0.5, "B": 0.3, "C": 0.3}), PortfolioParams(cash_reserve=0.1, max_weight=0.3))
    # capped to 0.3 each = 0.9 total = exactly the budget 1 - 0.1: unchanged
    assert w.tolist() == pytest.approx([0.3, 0.3, 0.3])
    w = scaled_weights(pd.Series({"A": 0.5, "B": 0.5}), PortfolioParams(cash_reserve=0.5, max_weight=0.4))
    assert w.tolist() == pytest.approx([0.25, 0.25])  # 0.8 scaled to 0.5
    with pytest.raises(StrategyError, match="non-negative"):
        scaled_weights(pd.Series({"A": -0.1}), PortfolioParams())


def test_target_shares_respect_lots_including_star():
    account = AccountSnapshot(cash=100_000.0)
    prices = pd.Series({"600000.SH": 9.99, "688001.SH": 33.33})
    t = target_shares(pd.Series({"600000.SH": 0.3, "688001.SH": 0.3}), account, prices,
                      PortfolioParams(cash_reserve=0.0, max_weight=0.3))
    assert t["600000.SH"] == 3000  # 30000 / 9.99 = 3003.0 → lots of 100
    assert t["688001.SH"] == 900  # 30000 / 33.33 = 900.09 → STAR: ≥ 200 then steps of 1
    t = target_shares(pd.Series({"688001.SH": 0.05}), account, prices, PortfolioParams(0.0, 0.3))
    assert t["688001.SH"] == 0  # 5000 / 33.33 = 150 shares < the STAR minimum of 200


def test_limit_order_price_offsets_and_clamps():
    assert limit_order_price(10.0, "buy", 20, 11.0, 9.0) == 10.02
    assert limit_order_price(10.0, "sell", 20, 11.0, 9.0) == 9.98
    assert limit_order_price(10.99, "buy", 50, 11.0, 9.0) == 11.0  # clamped to the up limit
    assert limit_order_price(9.01, "sell", 50, 11.0, 9.0) == 9.0


def test_sells_first_and_their_cash_funds_the_buys():
    account = AccountSnapshot(cash=1_000.0, positions={"600000.SH": Position("600000.SH", 1000, 1000, 10.0)})
    q = quotes({"600000.SH": (10.0, 10.0), "600004.SH": (20.0, 20.0)})
    targets = pd.Series({"600000.SH": 0, "600004.SH": 10_000})
    plan = plan_orders("i", DAY, "0935", account, targets, q, PlanParams(price_offset_bps=0, participation=None))
    assert [(o.side, o.symbol) for o in plan.orders] == [("sell", "600000.SH"), ("buy", "600004.SH")]
    sell, buy = plan.orders
    assert sell.volume == 1000 and sell.price == 10.0
    fees = AshareFees()
    # sell 10000: commission max(2.5, 5) + transfer 0.1 + stamp duty 5 = 10.1 → cash 1000 + 9989.9 = 10989.9
    cash = 1_000.0 + 10_000.0 - (5.0 + 0.1 + 5.0)
    # buy 500 at 20 = 10000 + 5 + 0.1 fits; 600 = 12000 does not
    assert buy.volume == 500
    assert 500 * 20 + fees.cost(np.array([10_000.0]), DAY, sell=False)[0] <= cash
    assert cash < 600 * 20


def test_buy_sizing_counts_the_minimum_commission():
    # 10,105 yuan: 1000 shares at 10.10 cost 10,100 + 5 (min commission) + 0.101 transfer = 10,105.101 > cash
    account = AccountSnapshot(cash=10_105.0)
    q = quotes({"600000.SH": (10.10, 10.10)})
    plan = plan_orders("i", DAY, "0935", account, pd.Series({"600000.SH": 5000}), q,
                       PlanParams(price_offset_bps=0, participation=None))
    assert plan.orders[0].volume == 900


def test_t_plus_one_suspension_and_limits_are_skipped_with_reasons():
    account = AccountSnapshot(cash=1e6, positions={"600000.SH": Position("600000.SH", 1000, 0, 10.0),
                                                   "600004.SH": Position("600004.SH", 1000, 1000, 10.0)})
    q = quotes({"600000.SH": (10.0, 10.0), "600004.SH": (9.0, 10.0), "600006.SH": (11.0, 10.0),
                "600008.SH": (np.nan, 10.0)})
    targets = pd.Series({"600000.SH": 0, "600004.SH": 0, "600006.SH": 1000, "600008.SH": 1000})
    plan = plan_orders("i", DAY, "0935", account, targets, q)
    assert plan.orders == []
    assert {(s.symbol, s.side, s.reason) for s in plan.skipped} == {
        ("600000.SH", "sell", "T+1: nothing sellable today"),
        ("600004.SH", "sell", "at limit down"),  # 9.00 is the down limit of 10.00
        ("600006.SH", "buy", "at limit up"),
        ("600008.SH", "buy", "suspended"),
    }


def test_a_large_order_is_split_into_children_of_the_participation_cap():
    account = AccountSnapshot(cash=1e7)
    q = quotes({"600000.SH": (10.0, 10.0)}, recent_volume=np.array([12_345.0]))
    plan = plan_orders("i", DAY, "0935", account, pd.Series({"600000.SH": 3_000}), q, PlanParams(participation=0.1))
    # child = 10% of 12,345 = 1,234.5 → 1,200 (lots); 3,000 = 1,200 + 1,200 + 600
    assert [o.volume for o in plan.orders] == [1200, 1200, 600]
    assert [o.intent_key for o in plan.orders] == [f"i|20240701|0935|600000.SH|buy|{n}" for n in (1, 2, 3)]
    assert len({o.remark for o in plan.orders}) == 3
    assert all(o.reason == "rebalance (split by participation cap)" for o in plan.orders)


def test_children_stop_at_max_children_and_the_rest_waits():
    account = AccountSnapshot(cash=1e7)
    q = quotes({"600000.SH": (10.0, 10.0)}, recent_volume=np.array([12_345.0]))
    plan = plan_orders("i", DAY, "0935", account, pd.Series({"600000.SH": 100_000}), q,
                       PlanParams(participation=0.1, max_children=4))
    assert [o.volume for o in plan.orders] == [1200] * 4
    assert "clipped at 4 children" in plan.orders[0].reason


def test_an_order_within_the_cap_keeps_the_plain_key():
    q = quotes({"600000.SH": (10.0, 10.0)}, recent_volume=np.array([1e6]))
    plan = plan_orders("i", DAY, "0935", AccountSnapshot(cash=1e6), pd.Series({"600000.SH": 1000}), q)
    [order] = plan.orders
    assert order.intent_key == "i|20240701|0935|600000.SH|buy" and order.reason == "rebalance"


def test_split_sells_leave_the_odd_lot_and_star_children_respect_the_minimum():
    held = {"600000.SH": Position("600000.SH", 3050, 3050, 10.0)}
    q = quotes({"600000.SH": (10.0, 10.0)}, recent_volume=np.array([12_345.0]))
    plan = plan_orders("i", DAY, "0935", AccountSnapshot(0.0, held), pd.Series({"600000.SH": 0}), q)
    assert [o.volume for o in plan.orders] == [1200, 1200, 600]  # the 50 odd shares leave whole, later
    q = quotes({"688001.SH": (10.0, 10.0)}, recent_volume=np.array([2_345.0]))
    plan = plan_orders("i", DAY, "0935", AccountSnapshot(cash=1e6), pd.Series({"688001.SH": 1000}), q)
    # STAR: child 234 shares (steps of 1); 1,000 = 4 × 234 + 64, and 64 is below the 200-share minimum
    assert [o.volume for o in plan.orders] == [234] * 4


def test_buy_children_stop_when_the_cash_runs_out():
    q = quotes({"600000.SH": (10.0, 10.0)}, recent_volume=np.array([10_000.0]))
    plan = plan_orders("i", DAY, "0935", AccountSnapshot(cash=25_000.0), pd.Series({"600000.SH": 5_000}), q,
                       PlanParams(price_offset_bps=0))
    # children of 1,000 at 10.00 cost 10,005.10 each (5 yuan commission + 0.10 transfer): two fit, then 400
    assert [o.volume for o in plan.orders] == [1000, 1000, 400]


def test_market_orders_carry_a_protection_price_where_the_board_requires_one():
    q = quotes({"688001.SH": (10.0, 10.0), "300001.SZ": (10.0, 10.0), "600000.SH": (10.0, 10.0)})
    held = {"300001.SZ": Position("300001.SZ", 1000, 1000, 10.0)}
    targets = pd.Series({"688001.SH": 1000, "300001.SZ": 0, "600000.SH": 1000})
    plan = plan_orders("i", DAY, "0935", AccountSnapshot(1e6, held), targets, q,
                       PlanParams(order_type="market", protection_bps=150))
    got = {o.symbol: (o.side, o.price_type, o.price) for o in plan.orders}
    assert got == {"688001.SH": ("buy", "market", 10.15),  # STAR: 10.00 × 1.015
                   "300001.SZ": ("sell", "market", 9.85),  # ChiNext: 10.00 × 0.985
                   "600000.SH": ("buy", "market", 11.0)}  # main board: no protection, the up limit
    with pytest.raises(ConfigError, match="order type 'stop'"):
        PlanParams(order_type="stop")


def test_odd_lot_holding_leaves_whole():
    account = AccountSnapshot(cash=0.0, positions={"600000.SH": Position("600000.SH", 1050, 1050, 10.0)})
    plan = plan_orders("i", DAY, "0935", account, pd.Series({"600000.SH": 0}), quotes({"600000.SH": (10.0, 10.0)}))
    assert plan.orders[0].volume == 1050
    plan = plan_orders("i", DAY, "0935", account, pd.Series({"600000.SH": 500}), quotes({"600000.SH": (10.0, 10.0)}))
    assert plan.orders[0].volume == 500  # 550 wanted → down to the step

"""The fee schedule and the dividend tax, pinned to their sources (values typed from the rules, not the module).

Sources: stamp duty 0.1% on sells, halved to 0.05% from 2023-08-28 (Ministry of Finance / State Taxation
Administration announcement 2023 No. 39); commission floor 5 yuan (broker schedule); transfer fee 0.001% both
sides (CSDC 2022); dividend tax by holding period (Caishui 2015 No. 101).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aistock_core.trading.fees import AshareFees, dividend_tax_rate


def test_default_schedule_sell_before_and_after_the_stamp_duty_cut():
    fees = AshareFees()
    value = np.array([100_000.0])
    # commission 25 (0.025% > 5 floor) + transfer 1 + stamp duty 100 / 50
    assert fees.cost(value, pd.Timestamp("2023-08-25"), sell=True)[0] == pytest.approx(126.0)
    assert fees.cost(value, pd.Timestamp("2023-08-28"), sell=True)[0] == pytest.approx(76.0)
    assert fees.cost(value, pd.Timestamp("2023-08-28"), sell=False)[0] == pytest.approx(26.0)


def test_commission_floor_is_five_yuan_and_nothing_dealt_costs_nothing():
    fees = AshareFees()
    cost = fees.cost(np.array([1_000.0, 0.0]), pd.Timestamp("2024-01-02"), sell=False)
    assert cost[0] == pytest.approx(5.0 + 0.01) and cost[1] == 0.0


def test_one_order_cost_equals_the_array_cost_to_the_bit():
    fees = AshareFees()
    values = np.concatenate([[0.0, 1e-6, 19_999.99, 20_000.0, 20_000.01],
                             np.random.default_rng(3).uniform(0, 5e6, 2_000)])
    for day in (pd.Timestamp("2023-08-25"), pd.Timestamp("2024-07-01")):
        for sell in (False, True):
            expected = fees.cost(values, day, sell=sell)
            assert [fees.order_cost(float(v), day, sell=sell) for v in values] == expected.tolist()


@pytest.mark.parametrize(
    ("opened", "sold", "rate"),
    [
        ("2024-01-02", "2024-01-20", 0.20),
        ("2024-01-02", "2024-02-02", 0.20),  # exactly one month: still "up to one month"
        ("2024-01-02", "2024-02-03", 0.10),
        ("2024-01-02", "2025-01-02", 0.10),  # exactly one year
        ("2024-01-02", "2025-01-03", 0.0),
    ],
)
def test_dividend_tax_by_holding_period(opened, sold, rate):
    got = dividend_tax_rate(np.array([opened], dtype="datetime64[D]"), pd.Timestamp(sold))
    assert got[0] == rate

"""The A-share rule set per board: limit rates, ST, IPO days without limits, lots (values from the exchanges' rules,
typed here independently of the module's tables)."""

from __future__ import annotations

import numpy as np
import pytest

from aistock_core.errors import InstrumentError
from aistock_core.trading.rules import (
    ipo_free_sessions,
    limit_rate,
    limit_rates,
    lot_rule,
    lot_rules,
    no_trade,
    round_buy_shares,
    round_sell_shares,
)


@pytest.mark.parametrize(
    ("code", "st", "rate"),
    [
        ("600000.SH", False, 0.10),
        ("000001.SZ", False, 0.10),
        ("300750.SZ", False, 0.20),
        ("688981.SH", False, 0.20),
        ("430047.BJ", False, 0.30),
        ("600000.SH", True, 0.05),
        ("000001.SZ", True, 0.05),
        ("300750.SZ", True, 0.20),
        ("688981.SH", True, 0.20),
        ("430047.BJ", True, 0.30),
    ],
)
def test_limit_rate(code, st, rate):
    assert limit_rate(code, st=st) == rate


def test_index_has_no_limit_rate():
    with pytest.raises(InstrumentError, match=r"000300\.SH is an index"):
        limit_rate("000300.SH")


def test_limit_rates_vector_matches_scalar():
    codes = ["600000.SH", "300750.SZ", "688981.SH", "430047.BJ", "000001.SZ", "000300.SH"]
    st = np.array([True, True, False, False, False, False])
    got = limit_rates(codes, st)
    np.testing.assert_array_equal(got[:5], [0.05, 0.20, 0.20, 0.30, 0.10])
    assert np.isnan(got[5])  # an index: no limit
    np.testing.assert_array_equal(limit_rates(codes[:5]), [0.10, 0.20, 0.20, 0.30, 0.10])


@pytest.mark.parametrize(
    ("code", "rule"),
    [("688981.SH", (200, 1)), ("689009.SH", (200, 1)), ("600000.SH", (100, 100)), ("300750.SZ", (100, 100)),
     ("000001.SZ", (100, 100)), ("430047.BJ", (100, 100))],
)
def test_lot_rule_star_vs_others(code, rule):
    assert lot_rule(code) == rule


def test_ipo_sessions_without_limits_per_board():
    # SSE/SZSE main board: first session only; ChiNext and STAR: first five sessions; BSE: first session.
    codes = ["600000.SH", "000001.SZ", "300750.SZ", "301269.SZ", "688981.SH", "689009.SH", "430047.BJ"]
    np.testing.assert_array_equal(ipo_free_sessions(codes), [1, 1, 5, 5, 5, 5, 1])


def test_lot_rounding_star_steps_of_one_above_200_others_lots_of_100():
    lot, step = lot_rules(["600000.SH", "688981.SH", "688981.SH", "300750.SZ"])
    np.testing.assert_array_equal(round_buy_shares(np.array([250.0, 250.0, 199.0, 99.0]), lot, step),
                                  [200.0, 250.0, 0.0, 0.0])
    # Odd lots only leave as a whole holding; otherwise down to the step.
    held = np.array([150.0, 150.0, 230.0])
    np.testing.assert_array_equal(round_sell_shares(np.array([150.0, 120.0, 201.0]), held, step[[0, 3, 1]]),
                                  [150.0, 100.0, 201.0])


def test_no_trade_without_a_close_or_without_volume():
    close = np.array([10.0, np.nan, 10.0, 10.0])
    np.testing.assert_array_equal(no_trade(close), [False, True, False, False])
    np.testing.assert_array_equal(no_trade(close, np.array([100.0, 100.0, 0.0, np.nan])), [False, True, True, True])

"""Reference and limit prices against hand-computed cases and against Python's Decimal (an independent oracle)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import pytest

from aistock_core.trading.prices import at_or_beyond, limit_prices, price_band, reference_price


def _decimal_limit(ref_cents: int, rate_bp: int, sign: int) -> float:
    ref = Decimal(ref_cents) / 100
    value = ref * (1 + sign * Decimal(rate_bp) / 10_000)
    return float(max(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP), Decimal("0.01")))


def test_875_read_back_as_8_749999943_limits_at_7_88_and_9_63():
    up, down = limit_prices(reference_price(8.749999943), 0.10)  # 8.75 after float32 storage and a factor
    # 8.75 × 0.9 = 7.875 → 7.88; 8.75 × 1.1 = 9.625 → 9.63 (half up, as the exchange rounds).
    assert (float(up), float(down)) == (9.63, 7.88)
    assert round(8.749999943 * 0.9, 2) == 7.87  # what binary rounding gave: the bug this module removes


def test_limits_equal_decimal_round_half_up_on_noisy_tick_prices():
    rng = np.random.default_rng(3)
    cents = rng.integers(100, 200_000, size=4000)
    noise = rng.uniform(-6e-8, 6e-8, size=len(cents))  # float32 storage / factor division error
    rate_bp = rng.choice([500, 1000, 2000, 3000], size=len(cents))
    up, down = limit_prices(cents / 100 + noise, rate_bp / 10_000)
    want_up = [_decimal_limit(int(c), int(r), +1) for c, r in zip(cents, rate_bp, strict=True)]
    want_down = [_decimal_limit(int(c), int(r), -1) for c, r in zip(cents, rate_bp, strict=True)]
    np.testing.assert_array_equal(up, want_up)
    np.testing.assert_array_equal(down, want_down)


@pytest.mark.parametrize(
    ("prev", "cash", "bonus", "ref"),
    [
        (20.00, 0.0, 1.0, 10.00),  # 10-for-10 bonus: half the price
        (10.00, 0.25, 0.5, 6.50),  # 10 送 5 派 2.5: (10 − 0.25) / 1.5
        (10.01, 0.0, 1.0, 5.01),  # 5.005: an exact half rounds up
        (12.34, 0.30, 0.0, 12.04),  # cash dividend only
        (234.03, 6.63, 1.0, 113.70),  # the issue's case: limits 102.33–125.07
    ],
)
def test_reference_price_hand_computed(prev, cash, bonus, ref):
    assert float(reference_price(prev, cash, bonus)) == ref


def test_reference_price_equals_decimal_formula():
    rng = np.random.default_rng(5)
    prev = rng.integers(200, 50_000, size=3000)
    cash = rng.integers(0, 150, size=len(prev)) / 1000  # up to 0.149 yuan, 3 decimals
    bonus = rng.choice([0.0, 0.1, 0.2, 0.3, 0.5, 1.0, 1.5], size=len(prev))
    got = reference_price(prev / 100, cash, bonus)
    want = [
        float(((Decimal(int(p)) / 100 - Decimal(str(c))) / (1 + Decimal(str(b)))).quantize(Decimal("0.01"),
                                                                                        rounding=ROUND_HALF_UP))
        for p, c, b in zip(prev, cash, bonus, strict=True)
    ]
    np.testing.assert_array_equal(got, want)


def test_issue_limit_day_after_ex_date():
    up, down = limit_prices(reference_price(234.03, 6.63, 1.0), 0.10)
    assert (float(up), float(down)) == (125.07, 102.33)
    assert not at_or_beyond(np.array([121.80]), down, upper=False)[0]  # was "limit down" against 234.03
    assert at_or_beyond(np.array([102.33 - 3e-8]), down, upper=False)[0]


def test_no_reference_no_limit():
    up, down = limit_prices(np.array([np.nan]), 0.1)
    assert np.isnan(up[0]) and np.isnan(down[0])
    assert not at_or_beyond(np.array([5.0]), up, upper=True)[0]


def test_price_band_over_a_grid_with_st_days_and_an_action():
    codes = ["600000.SH", "300750.SZ"]
    prev = np.array([[10.0, 10.0], [10.0, 10.0]])
    st = np.array([[False, False], [True, True]])  # ST: 5% on the main board, ChiNext keeps 20%
    bonus = np.array([[0.0, 0.0], [0.0, 1.0]])
    ref, up, down = price_band(codes, prev, st=st, bonus=bonus)
    np.testing.assert_array_equal(ref, [[10.0, 10.0], [10.0, 5.0]])
    np.testing.assert_array_equal(up, [[11.0, 12.0], [10.5, 6.0]])
    np.testing.assert_array_equal(down, [[9.0, 8.0], [9.5, 4.0]])

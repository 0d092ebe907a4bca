"""Reference prices and limit prices, exact to the tick.

Why integer cents: prices come back from float32 storage and factor division a few 1e-8 off the tick (8.75 is
read as 8.749999943), and ``round(8.749999943 × 0.9, 2)`` gives 7.87 where the exchange's down-limit is 7.88.
The exchange computes in decimals on tick-exact prices, so this module snaps prices to whole cents first and
does the rest in integer arithmetic (carried in float64, which holds every integer below 2**53 exactly, so NaN
can mark "no price"). The results equal Python's ``Decimal`` with ``ROUND_HALF_UP``; the tests check that.

* ``reference_price``: the previous close adjusted for the day's corporate action (the exchange's ex-rights /
  ex-dividend reference price), rounded half up to the tick. Limit checks, tradable flags, the order planner and
  the simulated broker all take the reference price from here.
* ``limit_prices``: ``round_half_up(ref × (1 ± rate), 0.01)``.
* ``price_band``: both for a list of codes (board and ST rates from `rules`): what every venue asks for.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from aistock_core.trading.rules import TICK, limit_rates

#: Ticks (cents) per yuan.
_CENTS = float(round(1 / TICK))
#: Rates are whole basis points (10%, 20%, 30%, 5%); 1 bp = 1e-4.
_BP = 10_000.0
#: A quotient computed in float64 lies within ~1e-11 of its exact decimal value at A-share price levels; this
#: guard lets an exact half (x.5 cents) round up even when the float lands a hair below it.
_HALF_GUARD = 1e-8


def previous_valid(grid: np.ndarray) -> np.ndarray:
    """(T, N) → each cell's last finite value strictly above it in its column, NaN where none: the previous
    close of a session (a suspension's NaN rows are skipped), or the factor before a step."""
    grid = np.asarray(grid, dtype=np.float64)
    rows = np.where(np.isfinite(grid), np.arange(grid.shape[0], dtype=np.int32)[:, None], np.int32(0))
    np.maximum.accumulate(rows, axis=0, out=rows)
    filled = np.take_along_axis(grid, rows, axis=0)  # NaN until a column's first finite value
    return np.vstack([np.full((1, grid.shape[1]), np.nan), filled[:-1]])


def to_cents(price: np.ndarray | float) -> np.ndarray:
    """Prices snapped to whole cents (float64 integers; NaN stays NaN)."""
    return np.rint(np.asarray(price, dtype=np.float64) * _CENTS)


def round_half_up_cents(value_cents: np.ndarray) -> np.ndarray:
    """A non-tick value in cents (e.g. a quotient) rounded half up to whole cents."""
    return np.floor(np.asarray(value_cents, dtype=np.float64) + 0.5 + _HALF_GUARD)


def reference_price(
    prev_close: np.ndarray | float, cash: np.ndarray | float = 0.0, bonus: np.ndarray | float = 0.0
) -> np.ndarray:
    """The day's reference price in yuan, on the tick: ``(prev − cash) / (1 + bonus)`` rounded half up (the
    exchanges' ex-rights/ex-dividend formula, per share of the old holding: ``cash`` dividend, ``bonus`` bonus +
    transfer shares; rights issues, which add ``rights_price × ratio`` above and ``ratio`` below, are not
    modelled). Without an action it is the previous close itself, snapped to the tick.
    """
    prev = to_cents(prev_close)
    cash = np.asarray(cash, dtype=np.float64)
    bonus = np.asarray(bonus, dtype=np.float64)
    adjusted = round_half_up_cents((prev - cash * _CENTS) / (1.0 + bonus))
    return np.where((cash == 0) & (bonus == 0), prev, adjusted) / _CENTS


def limit_prices(ref: np.ndarray | float, rate: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """(up, down) limit prices in yuan: ``round_half_up(ref × (1 ± rate), 0.01)``, exact; the down limit never
    goes below one tick. NaN where ``ref`` or ``rate`` is NaN (no limit)."""
    ref_c = to_cents(ref)
    bp = np.rint(np.asarray(rate, dtype=np.float64) * _BP)
    # ref_c × (10000 ± bp) is an integer below 2**53 for any real price: exact, as is the floor of its quotient.
    up = np.floor((ref_c * (_BP + bp) + _BP / 2) / _BP)
    down = np.maximum(np.floor((ref_c * (_BP - bp) + _BP / 2) / _BP), 1.0)
    return up / _CENTS, down / _CENTS


def at_or_beyond(price: np.ndarray, limit: np.ndarray, *, upper: bool) -> np.ndarray:
    """Whether ``price`` is at or beyond ``limit`` compared on whole cents (False where either is NaN)."""
    p, lim = to_cents(price), to_cents(limit)
    with np.errstate(invalid="ignore"):
        return p >= lim if upper else p <= lim


def price_band(
    codes: Sequence[str],
    prev_close: np.ndarray,
    *,
    st: np.ndarray | None = None,
    cash: np.ndarray | float = 0.0,
    bonus: np.ndarray | float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(reference, up, down) of the day for ``codes`` (the last axis of ``prev_close``, ``st``, ``cash``,
    ``bonus``: (N,) for one day or (T, N) for many). IPO days without limits are the caller's (they depend on
    the listing age, see `rules.ipo_free_sessions`)."""
    ref = reference_price(prev_close, cash, bonus)
    up, down = limit_prices(ref, limit_rates(codes, st))
    return ref, up, down

"""Minute paths consistent with daily bars, and the intraday clock of a simulated quote.

Pure functions, no randomness of their own: the caller passes the Gaussian increments (so a provider decides
how paths are seeded). A path is a Brownian bridge pinned at the day's open (09:30), its high and low (at two
interior minutes) and its close (15:00), clipped into [low, high] and put on the 0.01 tick. That makes the
minute closes agree with the daily bar by construction: ``max = high``, ``min = low``, ``last = close``, and a
one-price bar (a sealed limit) stays flat. Cumulative volume follows a fixed U-shaped profile (busy open and
close, quiet noon) so that a snapshot's volume grows the way a real session's does and ends at the day's total.
"""

from __future__ import annotations

from datetime import time

import numpy as np
import pandas as pd

from aistock_core.calendar import SESSION_TZ

N_MINUTES = 240
_OPEN_AM, _CLOSE_AM, _OPEN_PM, _CLOSE_PM = time(9, 30), time(11, 30), time(13, 0), time(15, 0)
#: Bridge noise per √minute as a fraction of the day's range: wide enough to wander, small enough to look daily.
_NOISE_SCALE = 0.06


def bars_done(at: pd.Timestamp) -> int | None:
    """Completed one-minute bars of the day at a Shanghai-time moment: None before 09:30 (pre-open), 0 at
    09:30 (only the open is known), 120 through the lunch break, 240 from 15:00 on.

    Bars are labelled by their end, so at 10:15:30 the bars ending 09:31..10:15 (45 of them) are complete.
    """
    local = at.tz_convert(SESSION_TZ) if at.tzinfo is not None else at
    t = local.time()
    if t < _OPEN_AM:
        return None
    if t >= _CLOSE_PM:
        return N_MINUTES
    if t >= _OPEN_PM:
        return 120 + _minutes_between(_OPEN_PM, t)
    if t >= _CLOSE_AM:
        return 120
    return _minutes_between(_OPEN_AM, t)


def _minutes_between(start: time, t: time) -> int:
    return ((t.hour - start.hour) * 3600 + (t.minute - start.minute) * 60 + t.second) // 60


def state_time(day: pd.Timestamp, done: int) -> pd.Timestamp:
    """The (tz-aware) moment a state with ``done`` completed bars describes: 09:30 for 0, else the last bar's end."""
    day = pd.Timestamp(day).normalize()
    offset = pd.Timedelta(hours=9, minutes=30 + done) if done <= 120 else pd.Timedelta(hours=13, minutes=done - 120)
    return (day + offset).tz_localize(SESSION_TZ)


def knot_minutes(u_first: np.ndarray, u_second: np.ndarray, u_order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct interior minutes (1..239) at which the high and the low are printed, from three uniforms."""
    a = 1 + np.floor(u_first * (N_MINUTES - 1)).astype(np.int64)
    b = 1 + np.floor(u_second * (N_MINUTES - 2)).astype(np.int64)
    b = np.where(b >= a, b + 1, b)
    high_first = u_order < 0.5
    return np.where(high_first, a, b), np.where(high_first, b, a)


def bridge_path(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    z: np.ndarray,
    t_high: np.ndarray,
    t_low: np.ndarray,
) -> np.ndarray:
    """Prices at minutes 0..240 (row 0 = the open, row m = close of bar m), shape (241, N).

    ``z`` holds (240, N) standard normal increments; ``t_high``/``t_low`` the distinct interior minutes where
    the extremes are pinned. NaN bars (suspended, not listed) give NaN columns.
    """
    n = open_.shape[0]
    m = np.arange(N_MINUTES + 1, dtype=np.float64)[:, None]
    walk = np.vstack([np.zeros((1, n)), np.cumsum(z, axis=0)])
    first, second = np.minimum(t_high, t_low), np.maximum(t_high, t_low)
    high_first = t_high < t_low
    v_first, v_second = np.where(high_first, high, low), np.where(high_first, low, high)
    # Knots per column: (0, open) → (first, v_first) → (second, v_second) → (240, close).
    seg = (m > first).astype(np.int64) + (m > second)
    knots_t = np.stack([np.zeros(n), first, second, np.full(n, N_MINUTES)]).astype(np.float64)
    knots_v = np.stack([open_, v_first, v_second, close])
    cols = np.arange(n)
    t0, t1 = knots_t[seg, cols], knots_t[seg + 1, cols]
    v0, v1 = knots_v[seg, cols], knots_v[seg + 1, cols]
    w0, w1 = walk[t0.astype(np.int64), cols], walk[t1.astype(np.int64), cols]
    frac = (m - t0) / (t1 - t0)
    noise = (walk - w0 - frac * (w1 - w0)) * (_NOISE_SCALE * (high - low))
    path = v0 + frac * (v1 - v0) + noise
    path = np.clip(np.round(path * 100.0) / 100.0, low, high)
    path[first, cols] = v_first
    path[second, cols] = v_second
    path[0], path[-1] = open_, close
    return path


def volume_profile() -> np.ndarray:
    """Cumulative share of the day's volume after each of minutes 0..240 (0 at the open, exactly 1 at 15:00)."""
    m = np.arange(1, N_MINUTES + 1, dtype=np.float64)
    afternoon = np.maximum(m - 120, 0)
    weight = 1.0 + 2.5 * np.exp(-(m - 1) / 15.0) + 1.5 * np.exp(-(N_MINUTES - m) / 20.0) \
        + 0.6 * np.exp(-afternoon / 10.0) * (m > 120)
    cum = np.concatenate([[0.0], np.cumsum(weight)])
    return cum / cum[-1]


def cumulative_state(path: np.ndarray, volume: np.ndarray, amount: np.ndarray, done: int) -> dict[str, np.ndarray]:
    """The running day bar after ``done`` minutes of ``path``: open, high, low, last, volume, amount so far.

    Volume follows `volume_profile` in 100-share lots (ending exactly at the day's volume); amount accrues
    volume × minute price, scaled so that it too ends exactly at the day's amount.
    """
    share = volume_profile()
    seen = path[: done + 1]
    lots = np.round(volume * share[done] / 100.0) * 100.0 if done < N_MINUTES else volume
    minute_vol = np.diff(share)[:, None] * np.ones_like(path[1:])
    traded = minute_vol * np.nan_to_num(path[1:])
    total = traded.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        amt = amount * (traded[:done].sum(axis=0) / total) if done < N_MINUTES else amount
    return {
        "open": path[0],
        "high": seen.max(axis=0),
        "low": seen.min(axis=0),
        "close": path[done],
        "volume": lots,
        "amount": np.where(np.isnan(amount), np.nan, np.round(amt, 2)) if done < N_MINUTES else amount,
    }

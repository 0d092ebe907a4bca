"""Order-statistic window kernels: Quantile, Rank, IdxMax/IdxMin — exact, vectorised over all series.

pandas computes rolling quantiles and ranks with a skiplist and Qlib's IdxMax with ``rolling.apply``; both are
slow per element. Here the same numbers come from sorting the windows (quantiles), comparing each value with
its lags (ranks) and a sparse table (argmax), then applying pandas' own final formulas, so the results are
bit-identical (tests compare them with pandas and Qlib directly). Inputs are (N, T) float64, NaN outside each
series and ±inf already NaN (what pandas hands its window functions).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pandas._libs.window import aggregations as _agg

from aistock_core.factors.rolling import (
    Series2D,
    pandas_window,
    rolling_max,
    rolling_min,
    window_chunks,
    window_counts,
)


def rolling_quantiles(geo: Series2D, a: np.ndarray, w: int, qs: Sequence[float]) -> list[np.ndarray]:
    """pandas' linear rolling quantile for several levels from one sort of the windows.

    pandas walks a skiplist; we sort each window (NaN last) and apply pandas' own formula to the same order
    statistics — ``vlow + (vhigh - vlow) * (q·(nobs-1) - idx)`` — so results are bit-identical, several
    times faster, and QTLU/QTLD share the sort. ``a`` must be NaN outside the series (`Series2D.within`).
    """
    x = np.asarray(a, dtype=np.float64)
    nobs = window_counts(geo, ~np.isnan(x), w)
    x32 = x.astype(np.float32)
    if np.array_equal(x32, x, equal_nan=True):  # float32 bins: same order statistics, half the sort work
        x = x32
    outs = [np.full((geo.n, geo.t), np.nan) for _ in qs]
    for rows, win in window_chunks(geo, x, w):
        ordered = np.sort(win, axis=-1)
        cnt = nobs[rows]
        partial = np.nonzero((cnt < w) & (cnt > 0))  # windows with NaN or clipped at the start: few
        for out, q in zip(outs, qs, strict=True):
            frac = q * (cnt - 1).astype(np.float64)
            idx = np.maximum(frac.astype(np.int64), 0)
            k = int(q * (w - 1))  # full windows all use the same order statistics
            low = ordered[..., k].astype(np.float64)
            high = ordered[..., min(k + 1, w - 1)].astype(np.float64)
            low[partial] = ordered[(*partial, idx[partial])]
            high[partial] = ordered[(*partial, np.minimum(idx[partial] + 1, w - 1))]
            with np.errstate(invalid="ignore"):
                val = np.where(idx == frac, low, low + (high - low) * (frac - idx))
            out[rows] = np.where(cnt > 0, val, np.nan)
    return outs


def rolling_quantile(geo: Series2D, a: np.ndarray, w: int, q: float) -> np.ndarray:
    """Linear interpolation, as pandas' default (q=0/1 use min/max like pandas does)."""
    if q == 1.0:
        return rolling_max(geo, a, w)
    if q == 0.0:
        return rolling_min(geo, a, w)
    if w == 0:  # expanding: windows as long as the series, pandas' skiplist is the right tool
        return pandas_window(_agg.roll_quantile, geo, a, 0, q, "linear")
    return rolling_quantiles(geo, a, w, [q])[0]


def rolling_rank(geo: Series2D, a: np.ndarray, w: int) -> np.ndarray:
    """pandas' rolling ``rank(pct=True)``: average rank of the newest value among the window's non-NaN
    values over their count. pandas computes (max_rank + min_rank)/2 / nobs from its skiplist; the same
    integers come from comparing today's value with each lag, so the result is bit-identical."""
    if w == 0:
        return pandas_window(_agg.roll_rank, geo, a, 0, percentile=True, method="average", ascending=True)
    x = np.asarray(a, dtype=np.float64)
    small = np.int16 if w < 2**15 else np.int64  # counts ≤ w: narrow integers halve the memory traffic
    less = np.zeros((geo.n, geo.t), dtype=small)
    equal = np.ones((geo.n, geo.t), dtype=small)
    for lag in range(1, min(w, geo.t)):  # loop over lags (≤ w), each step vectorised over all cells
        prev, cur = x[:, :-lag], x[:, lag:]
        less[:, lag:] += prev < cur
        equal[:, lag:] += prev == cur
    nobs = window_counts(geo, ~np.isnan(x), w)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (2 * less.astype(np.float64) + equal + 1) / 2.0 / nobs  # (min_rank + max_rank) / 2 / nobs
    out[np.isnan(x)] = np.nan
    return out


def _shifted(a: np.ndarray, k: int, fill) -> np.ndarray:
    """``a`` moved ``k`` rows later in time, the first ``k`` rows filled."""
    out = np.empty_like(a)
    out[:, :k] = fill
    out[:, k:] = a[:, :-k]
    return out


def rolling_idx_extreme(geo: Series2D, a: np.ndarray, w: int, is_max: bool) -> np.ndarray:
    """Qlib's IdxMax/IdxMin: ``rolling(N, min_periods=1).apply(lambda x: x.argmax() + 1, raw=True)``.

    numpy's argmax returns the first NaN if the window has one and the oldest of tied extremes; windows are
    clipped at the series start; pandas hands ``apply`` ±inf as NaN. Sparse-table doubling gives that exactly
    in O(T·N·log N): the best of two overlapping windows, the older winning ties, on one float key per cell
    (a NaN is +inf — it always wins —, a row before the series is -inf — it never does).
    """
    vals = np.asarray(a, dtype=np.float64)
    rows = np.arange(geo.t)
    pre = rows[None, :] < geo.first[:, None]
    nan = ~np.isfinite(vals)
    key = np.where(pre, -np.inf, np.where(nan, np.inf, vals if is_max else -vals))
    idx = np.broadcast_to(rows.astype(np.int32), vals.shape).copy()
    span = 1
    while span < w:
        step = min(span, w - span)  # the last step overlaps the previous window: fine for a maximum
        old_key = _shifted(key, step, -np.inf)
        newer = key > old_key  # strictly: ties keep the older cell
        idx = np.where(newer, idx, _shifted(idx, step, 0))
        key = np.maximum(key, old_key)
        span += step
    lo = geo.window_start(w)
    out = (np.maximum(idx, lo) - lo + 1).astype(np.float64)
    # rolling.apply(min_periods=1) gives NaN when the window holds no observation at all
    out[window_counts(geo, ~nan, w) == 0] = np.nan
    out[pre] = np.nan
    return out

"""Rolling kernels over many series at once, with Qlib 0.9.7's exact window semantics.

Layout: every array here is (N, T) C-contiguous — one row per instrument, i.e. the instrument's series laid
end to end in memory, which is what Qlib computes on (one pandas Series per instrument). ``first[i]`` is the
row where instrument i's series starts (its first listed session in the block, ``T`` if never listed): Qlib
loads an instrument from the start of its data, so a window never reaches before it.

Where Qlib calls pandas (``series.rolling(N, min_periods=1).mean()`` ...), the hot kernels (sum, mean, var,
max, min, and corr with all its moments in one pass) are pandas' own recurrences ported to numba (`kernels`),
run per series in parallel: bit-identical to per-instrument pandas calls. Rare operators (median, skew, kurt,
EMA) call pandas' Cython kernels (``pandas._libs.window.aggregations``) once on all series concatenated, with
per-cell window bounds clipped at each series' start: pandas restarts its running state whenever a window does
not overlap the previous one — which is exactly what happens at every series boundary — so that too matches
per-instrument calls. WMA and Mad (``rolling.apply`` in Qlib) are vectorised here from their definitions;
order statistics live in `ordinal`, Qlib's Cython regression in `regression`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from pandas._libs.window import aggregations as _agg  # pandas<3 is pinned; these are what Series.rolling calls

from aistock_core.factors import kernels as K

#: Qlib masks Rsquare/Corr where the input's rolling std is within this absolute distance of zero.
STD_EPS = 2e-5


@dataclass
class Series2D:
    """Geometry shared by all kernels of one compute call: sizes, series starts and cached window bounds."""

    n: int
    t: int
    first: np.ndarray  # (N,) int64: first row of each series, t when the instrument is never listed
    last: np.ndarray | None = None  # (N,) int64: one past the last row of each series (default t)
    _bounds: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.last is None:
            self.last = np.full(self.n, self.t, dtype=np.int64)
        rows = np.arange(self.t)[None, :]
        self.inside = (rows >= self.first[:, None]) & (rows < self.last[:, None])

    def within(self, a: np.ndarray) -> np.ndarray:
        """``a`` as float with NaN outside each series: Qlib's series has no rows there at all, so an
        element-wise result computed on them (``$close > $open`` is False on NaN) must not leak into windows
        or shifts."""
        x = a if a.dtype.kind == "f" else a.astype(np.float64)
        return np.where(self.inside, x, np.array(np.nan, dtype=x.dtype))

    def bounds(self, w: int) -> tuple[np.ndarray, np.ndarray]:
        """Flat window bounds [start, end) for window ``w`` (0 = expanding), clipped at each series' start."""
        if w not in self._bounds:
            rows = np.arange(self.t, dtype=np.int64)[None, :]
            first = self.first.astype(np.int64)[:, None]
            lo = np.maximum(rows - w + 1, first) if w > 0 else np.broadcast_to(first, (self.n, self.t))
            lo = np.minimum(lo, rows + 1)  # before the series starts: an empty window (NaN)
            offset = (np.arange(self.n, dtype=np.int64) * self.t)[:, None]
            self._bounds[w] = ((lo + offset).ravel(), (rows + 1 + offset).ravel())
        return self._bounds[w]

    def window_start(self, w: int) -> np.ndarray:
        """(N, T) first row of each cell's window inside its own series."""
        start, _ = self.bounds(w)
        return start.reshape(self.n, self.t) - (np.arange(self.n, dtype=np.int64) * self.t)[:, None]


def _flat(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64).ravel()


def pandas_window(func, geo: Series2D, a: np.ndarray, w: int, *args, minp: int = 1, **kwargs) -> np.ndarray:
    start, end = geo.bounds(w)
    with np.errstate(all="ignore"):
        out = func(_flat(a), start, end, minp, *args, **kwargs)
    return np.asarray(out, dtype=np.float64).reshape(geo.n, geo.t)


# -- pandas' recurrences in numba (bit-identical to Series.rolling(N, min_periods=1).<f>()) ---------------------
def _rows(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float64)


def rolling_sum(geo: Series2D, a: np.ndarray, w: int) -> np.ndarray:
    return K.roll_sum_mean(_rows(a), geo.first, geo.last, w, False)


def rolling_mean(geo: Series2D, a: np.ndarray, w: int) -> np.ndarray:
    return K.roll_sum_mean(_rows(a), geo.first, geo.last, w, True)


def rolling_var(geo: Series2D, a: np.ndarray, w: int) -> np.ndarray:
    """ddof=1; pandas returns exactly 0 on constant windows (what keeps Alpha158's WVMA finite)."""
    return K.roll_var(_rows(a), geo.first, geo.last, w)


def zsqrt(var: np.ndarray) -> np.ndarray:
    """pandas' ``zsqrt``: rolling std = sqrt(var) with tiny negative variances clipped to 0."""
    with np.errstate(invalid="ignore"):
        out = np.sqrt(var)
    out[var < 0] = 0.0
    return out


def rolling_std(geo: Series2D, a: np.ndarray, w: int) -> np.ndarray:
    return zsqrt(rolling_var(geo, a, w))


def rolling_max(geo: Series2D, a: np.ndarray, w: int) -> np.ndarray:
    return K.roll_extreme(_rows(a), geo.first, geo.last, w, True)


def rolling_min(geo: Series2D, a: np.ndarray, w: int) -> np.ndarray:
    return K.roll_extreme(_rows(a), geo.first, geo.last, w, False)


# -- pandas-backed: one call over all series concatenated (rare operators) ----------------------------------
def rolling_median(geo: Series2D, a: np.ndarray, w: int) -> np.ndarray:
    return pandas_window(_agg.roll_median_c, geo, a, w)


def window_chunks(geo: Series2D, x: np.ndarray, w: int, budget: int = 1 << 23):
    """(row slice, (rows, T, w) sliding-window view) chunks of NaN-padded ``x``: bounded memory, no row loop."""
    pad = np.concatenate([np.full((geo.n, w - 1), np.nan, dtype=x.dtype), x], axis=1)
    step = max(1, budget // max(1, geo.t * w))
    for lo in range(0, geo.n, step):
        yield slice(lo, lo + step), np.lib.stride_tricks.sliding_window_view(pad[lo:lo + step], w, axis=1)


def rolling_count(geo: Series2D, a: np.ndarray, w: int) -> np.ndarray:
    return pandas_window(_agg.roll_sum, geo, ~np.isnan(np.asarray(a, dtype=np.float64)), w)


def rolling_moment(geo: Series2D, a: np.ndarray, w: int, kind: str) -> np.ndarray:
    """Skew/Kurt. pandas centres each *whole series* on its mean before rolling these, so they cannot share
    one concatenated call: one call per instrument (rare operators, not in Alpha158)."""
    func = _agg.roll_skew if kind == "skew" else _agg.roll_kurt
    start, end = geo.bounds(w)
    vals = _flat(a)
    out = np.full(geo.n * geo.t, np.nan)
    for i in range(geo.n):
        lo, hi = i * geo.t, (i + 1) * geo.t
        with np.errstate(all="ignore"):
            out[lo:hi] = func(vals[lo:hi].copy(), start[lo:hi] - lo, end[lo:hi] - lo, 1)
    return out.reshape(geo.n, geo.t)


def ewm_mean(geo: Series2D, a: np.ndarray, com: float) -> np.ndarray:
    """``Series.ewm(com=..., min_periods=1).mean()`` (adjust=True, ignore_na=False), one segment per series."""
    offset = np.arange(geo.n, dtype=np.int64) * geo.t
    start = offset + np.minimum(geo.first.astype(np.int64), geo.t)
    end = offset + geo.t
    with np.errstate(all="ignore"):
        out = _agg.ewm(_flat(a), start, end, 1, com, True, False, None, True)
    out = np.asarray(out, dtype=np.float64).reshape(geo.n, geo.t)
    out[np.arange(geo.t)[None, :] < geo.first[:, None]] = np.nan
    return out


def _pair_masked(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pandas' ``prep_binary``: X = x + 0*y, Y = y + 0*x (each side NaN where the other is NaN or inf)."""
    x64, y64 = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return np.where(np.isfinite(y64), x64, np.nan), np.where(np.isfinite(x64), y64, np.nan)


def rolling_cov(geo: Series2D, x: np.ndarray, y: np.ndarray, w: int) -> np.ndarray:
    """pandas' rolling cov: (mean(xy) - mean(x)·mean(y)) · n/(n-1) over the pair-masked series."""
    xm, ym = _pair_masked(x, y)
    return _cov(geo, xm, ym, w, rolling_mean(geo, xm, w), rolling_mean(geo, ym, w))


def _cov(geo: Series2D, xm, ym, w: int, mean_x, mean_y) -> np.ndarray:
    with np.errstate(all="ignore"):
        mean_xy = rolling_mean(geo, xm * ym, w)
        count = window_counts(geo, ~np.isnan(xm + ym), w).astype(np.float64)  # pandas: roll_sum of 0/1
        return (mean_xy - mean_x * mean_y) * (count / (count - 1))


def rolling_corr(geo: Series2D, x: np.ndarray, y: np.ndarray, w: int) -> np.ndarray:
    """pandas' rolling corr, then Qlib's mask: NaN where either *input's* rolling std is ≤ 2e-5.

    One fused pass per series (`kernels.roll_corr`) computes the pair-masked moments pandas combines and the
    inputs' own variances for the mask.
    """
    return K.roll_corr(_rows(x), _rows(y), geo.first, geo.last, w, _STD_EPS_VAR)


def largest_var_within(eps: float) -> float:
    """The largest double ``v`` with ``sqrt(v) ≤ eps``. A correctly rounded square root never decreases, so for
    every double ``v``: ``v < 0 or sqrt(v) ≤ eps`` ⟺ ``v ≤ largest_var_within(eps)`` (NaN: false on both sides)."""
    v = eps * eps
    while np.sqrt(v) > eps:
        v = np.nextafter(v, -np.inf)
    while np.sqrt(np.nextafter(v, np.inf)) <= eps:
        v = np.nextafter(v, np.inf)
    return float(v)


_STD_EPS_VAR = largest_var_within(STD_EPS)


# -- numpy kernels for what Qlib computes with rolling.apply or its own Cython -------------------------------
def window_counts(geo: Series2D, valid: np.ndarray, w: int) -> np.ndarray:
    """Exact integer count of ``valid`` cells in each window (cumulative sums of integers never round)."""
    csum = np.zeros((geo.n, geo.t + 1), dtype=np.int64)
    np.cumsum(valid, axis=1, out=csum[:, 1:])
    rows = np.arange(geo.t)
    lo = np.maximum(rows - w + 1, 0) if w > 0 else np.zeros_like(rows)
    return csum[:, rows + 1] - csum[:, lo]


def rolling_wma(geo: Series2D, a: np.ndarray, w: int) -> np.ndarray:
    """Qlib's WMA: weights 1..L over the (clipped) window of length L normalised to sum 1, then *nanmean*."""
    x = np.asarray(a, dtype=np.float64)
    valid = ~np.isnan(x)
    rows = np.arange(geo.t, dtype=np.float64)[None, :]
    lo = geo.window_start(w).astype(np.float64)
    length = rows - lo + 1
    sx = rolling_sum(geo, x, w)
    sxr = rolling_sum(geo, x * rows, w)
    count = window_counts(geo, valid, w)
    with np.errstate(all="ignore"):
        out = (sxr - (lo - 1) * sx) / (length * (length + 1) / 2) / count
    out[count == 0] = np.nan
    return out


def rolling_mad(geo: Series2D, a: np.ndarray, w: int) -> np.ndarray:
    """Qlib's Mad: mean absolute deviation from the mean over the window's non-NaN values (no warm-up)."""
    x = np.asarray(a, dtype=np.float64)
    out = np.empty((geo.n, geo.t))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows: NaN, as rolling.apply gives
        for rows, win in window_chunks(geo, x, w):
            mean = np.nanmean(win, axis=2)
            out[rows] = np.nanmean(np.abs(win - mean[..., None]), axis=2)
    out[~geo.inside] = np.nan
    return out

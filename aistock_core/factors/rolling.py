"""Rolling kernels over many series at once, with Qlib 0.9.7's exact window semantics.

Layout: every array here is (N, T) C-contiguous — one row per instrument, i.e. the instrument's series laid
end to end in memory, which is what Qlib computes on (one pandas Series per instrument). ``first[i]`` is the
row where instrument i's series starts (its first listed session in the block, ``T`` if never listed): Qlib
loads an instrument from the start of its data, so a window never reaches before it.

Where Qlib calls pandas (``series.rolling(N, min_periods=1).mean()`` ...), we call the *same* pandas Cython
kernels (``pandas._libs.window.aggregations``) once on all series concatenated, with per-cell window bounds
clipped at each series' start. pandas restarts its running state whenever a window does not overlap the
previous one — which is exactly what happens at every series boundary — so the result is bit-identical to
per-instrument calls, with one C call instead of N. Operators Qlib evaluates with ``rolling.apply`` or its own
Cython (IdxMax, WMA, Mad, Slope, Rsquare, Resi) are vectorised here in numpy from their definitions.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from pandas._libs.window import aggregations as _agg  # pandas<3 is pinned; these are what Series.rolling calls

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


def _call(func, geo: Series2D, a: np.ndarray, w: int, *args, minp: int = 1, **kwargs) -> np.ndarray:
    start, end = geo.bounds(w)
    with np.errstate(all="ignore"):
        out = func(_flat(a), start, end, minp, *args, **kwargs)
    return np.asarray(out, dtype=np.float64).reshape(geo.n, geo.t)


# -- pandas-backed (bit-identical to Series.rolling(N, min_periods=1).<f>()) ----------------------------------
def rolling_sum(geo: Series2D, a: np.ndarray, w: int) -> np.ndarray:
    return _call(_agg.roll_sum, geo, a, w)


def rolling_mean(geo: Series2D, a: np.ndarray, w: int) -> np.ndarray:
    return _call(_agg.roll_mean, geo, a, w)


def rolling_var(geo: Series2D, a: np.ndarray, w: int) -> np.ndarray:
    """ddof=1; pandas returns exactly 0 on constant windows (what keeps Alpha158's WVMA finite)."""
    return _call(_agg.roll_var, geo, a, w, ddof=1)


def zsqrt(var: np.ndarray) -> np.ndarray:
    """pandas' ``zsqrt``: rolling std = sqrt(var) with tiny negative variances clipped to 0."""
    with np.errstate(invalid="ignore"):
        out = np.sqrt(var)
    out[var < 0] = 0.0
    return out


def rolling_std(geo: Series2D, a: np.ndarray, w: int) -> np.ndarray:
    return zsqrt(rolling_var(geo, a, w))


def rolling_max(geo: Series2D, a: np.ndarray, w: int) -> np.ndarray:
    return _call(_agg.roll_max, geo, a, w)


def rolling_min(geo: Series2D, a: np.ndarray, w: int) -> np.ndarray:
    return _call(_agg.roll_min, geo, a, w)


def rolling_median(geo: Series2D, a: np.ndarray, w: int) -> np.ndarray:
    return _call(_agg.roll_median_c, geo, a, w)


def _window_chunks(geo: Series2D, x: np.ndarray, w: int, budget: int = 1 << 23):
    """(row slice, (rows, T, w) sliding-window view) chunks of NaN-padded ``x``: bounded memory, no row loop."""
    pad = np.concatenate([np.full((geo.n, w - 1), np.nan, dtype=x.dtype), x], axis=1)
    step = max(1, budget // max(1, geo.t * w))
    for lo in range(0, geo.n, step):
        yield slice(lo, lo + step), np.lib.stride_tricks.sliding_window_view(pad[lo:lo + step], w, axis=1)


def rolling_quantiles(geo: Series2D, a: np.ndarray, w: int, qs: Sequence[float]) -> list[np.ndarray]:
    """pandas' linear rolling quantile for several levels from one sort of the windows.

    pandas walks a skiplist; we sort each window (NaN last) and apply pandas' own formula to the same order
    statistics — ``vlow + (vhigh - vlow) * (q·(nobs-1) - idx)`` — so results are bit-identical, several
    times faster, and QTLU/QTLD share the sort. ``a`` must be NaN outside the series (`Series2D.within`).
    """
    x = np.asarray(a, dtype=np.float64)
    nobs = _window_counts(geo, ~np.isnan(x), w)
    x32 = x.astype(np.float32)
    if np.array_equal(x32, x, equal_nan=True):  # float32 bins: same order statistics, half the sort work
        x = x32
    outs = [np.full((geo.n, geo.t), np.nan) for _ in qs]
    for rows, win in _window_chunks(geo, x, w):
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
        return _call(_agg.roll_quantile, geo, a, 0, q, "linear")
    return rolling_quantiles(geo, a, w, [q])[0]


def rolling_rank(geo: Series2D, a: np.ndarray, w: int) -> np.ndarray:
    """pandas' rolling ``rank(pct=True)``: average rank of the newest value among the window's non-NaN
    values over their count. pandas computes (max_rank + min_rank)/2 / nobs from its skiplist; the same
    integers come from comparing today's value with each lag, so the result is bit-identical."""
    if w == 0:
        return _call(_agg.roll_rank, geo, a, 0, percentile=True, method="average", ascending=True)
    x = np.asarray(a, dtype=np.float64)
    small = np.int16 if w < 2**15 else np.int64  # counts ≤ w: narrow integers halve the memory traffic
    less = np.zeros((geo.n, geo.t), dtype=small)
    equal = np.ones((geo.n, geo.t), dtype=small)
    for lag in range(1, min(w, geo.t)):  # loop over lags (≤ w), each step vectorised over all cells
        prev, cur = x[:, :-lag], x[:, lag:]
        less[:, lag:] += prev < cur
        equal[:, lag:] += prev == cur
    nobs = _window_counts(geo, ~np.isnan(x), w)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (2 * less.astype(np.float64) + equal + 1) / 2.0 / nobs  # (min_rank + max_rank) / 2 / nobs
    out[np.isnan(x)] = np.nan
    return out


def rolling_count(geo: Series2D, a: np.ndarray, w: int) -> np.ndarray:
    return _call(_agg.roll_sum, geo, ~np.isnan(np.asarray(a, dtype=np.float64)), w)


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
        count = _window_counts(geo, ~np.isnan(xm + ym), w).astype(np.float64)  # pandas: roll_sum of 0/1
        return (mean_xy - mean_x * mean_y) * (count / (count - 1))


def rolling_corr(geo: Series2D, x: np.ndarray, y: np.ndarray, w: int, var_x: np.ndarray | None = None,
                 var_y: np.ndarray | None = None, mean_x: np.ndarray | None = None,
                 mean_y: np.ndarray | None = None) -> np.ndarray:
    """pandas' rolling corr, then Qlib's mask: NaN where either *input's* rolling std is ≤ 2e-5.

    ``var_*``/``mean_*`` are the inputs' own rolling moments when the engine already has them (Var/Mean
    nodes shared with other factors); they are reused only where pandas' pair masking changes nothing.
    """
    var_x = rolling_var(geo, x, w) if var_x is None else var_x
    var_y = rolling_var(geo, y, w) if var_y is None else var_y
    xm, ym = _pair_masked(x, y)
    same_x, same_y = _same_nan(xm, x), _same_nan(ym, y)
    mx = mean_x if same_x and mean_x is not None else rolling_mean(geo, xm, w)
    my = mean_y if same_y and mean_y is not None else rolling_mean(geo, ym, w)
    vx = var_x if same_x else rolling_var(geo, xm, w)
    vy = var_y if same_y else rolling_var(geo, ym, w)
    with np.errstate(all="ignore"):
        out = _cov(geo, xm, ym, w, mx, my) / (vx * vy) ** 0.5
    out[(zsqrt(var_x) <= STD_EPS) | (zsqrt(var_y) <= STD_EPS)] = np.nan
    return out


def _same_nan(masked: np.ndarray, original: np.ndarray) -> bool:
    return bool(np.array_equal(np.isnan(masked), np.isnan(original)))


# -- numpy kernels for what Qlib computes with rolling.apply or its own Cython -------------------------------
def _window_counts(geo: Series2D, valid: np.ndarray, w: int) -> np.ndarray:
    """Exact integer count of ``valid`` cells in each window (cumulative sums of integers never round)."""
    csum = np.zeros((geo.n, geo.t + 1), dtype=np.int64)
    np.cumsum(valid, axis=1, out=csum[:, 1:])
    rows = np.arange(geo.t)
    lo = np.maximum(rows - w + 1, 0) if w > 0 else np.zeros_like(rows)
    return csum[:, rows + 1] - csum[:, lo]


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
    out[_window_counts(geo, ~nan, w) == 0] = np.nan
    out[pre] = np.nan
    return out


def _running(steps: np.ndarray) -> np.ndarray:
    """Sequential float64 running sum along time, one (remove, add) pair of terms per row.

    Qlib's Cython updates each sum as ``s = (s - leaving) + entering``; ``np.add.accumulate`` over the
    interleaved terms performs exactly those additions in exactly that order (a skipped NaN term is an
    exact ``+ 0.0``), so the running sums — rounding residue included — are bit-identical to Qlib's.
    """
    with np.errstate(invalid="ignore"):  # inf - inf in a sum is NaN in Qlib's C too
        return np.add.accumulate(steps.reshape(steps.shape[0], 2 * steps.shape[1]), axis=1)[:, 1::2]


def _interleave(leaving: np.ndarray, entering: np.ndarray) -> np.ndarray:
    out = np.empty((leaving.shape[0], leaving.shape[1], 2))
    out[:, :, 0] = leaving
    out[:, :, 1] = entering
    return out


class Regression:
    """State of Qlib's ``rolling_slope/rsquare/resi`` (``qlib/data/_libs/rolling.pyx``) for all series.

    x is the window slot 1..w (newest = w); NaN slots are skipped. The x-sums are integers (exact in any
    order); the y-sums follow Qlib's running recurrences exactly (see `_running`), which matters where the
    fit is degenerate: a window with one observation after a suspension gives Qlib's ±inf/0/NaN, not ours.
    """

    def __init__(self, geo: Series2D, y: np.ndarray, w: int) -> None:
        self.w = w
        y64 = np.asarray(y, dtype=np.float64)
        valid = ~np.isnan(y64)
        val = np.where(valid, y64, 0.0)
        front = np.concatenate([np.zeros((geo.n, w)), val], axis=1)[:, : geo.t]  # the value leaving the deque
        self.n = _window_counts(geo, valid, w).astype(np.float64)
        rows = np.arange(geo.t, dtype=np.int64)
        sr = _window_counts(geo, valid * rows[None, :], w)
        srr = _window_counts(geo, valid * (rows * rows)[None, :], w)
        base = (rows - w)[None, :]
        n_int = self.n.astype(np.int64)
        self.sx = (sr - base * n_int).astype(np.float64)
        self.sxx = (srr - 2 * base * sr + base * base * n_int).astype(np.float64)
        self.sy = _running(_interleave(-front, val))
        prev_sy = np.concatenate([np.zeros((geo.n, 1)), self.sy[:, :-1]], axis=1)
        self.sxy = _running(_interleave(-prev_sy, w * val))
        self.val, self.y64, self.front = val, y64, front

    def slope(self) -> np.ndarray:
        n, sx = self.n, self.sx
        with np.errstate(all="ignore"):
            return (n * self.sxy - sx * self.sy) / (n * self.sxx - sx * sx)

    def syy(self) -> np.ndarray:
        return _running(_interleave(-(self.front * self.front), self.val * self.val))


    def resi(self) -> np.ndarray:
        """Today's residual of the window's fit (NaN when today is NaN)."""
        slope = self.slope()
        with np.errstate(all="ignore"):
            x_mean = self.sx / self.n
            y_mean = self.sy / self.n
            interp = y_mean - slope * x_mean
            return self.y64 - (slope * self.w + interp)


def rolling_slope(geo: Series2D, y: np.ndarray, w: int) -> np.ndarray:
    return Regression(geo, y, w).slope()


def rolling_resi(geo: Series2D, y: np.ndarray, w: int) -> np.ndarray:
    return Regression(geo, y, w).resi()


def rolling_rsquare(geo: Series2D, y: np.ndarray, w: int, reg: Regression | None = None,
                    std: np.ndarray | None = None) -> np.ndarray:
    """r² of the window's fit, NaN where the input's rolling std is ≤ 2e-5 (Qlib's mask)."""
    reg = Regression(geo, y, w) if reg is None else reg
    n, sx, sy = reg.n, reg.sx, reg.sy
    with np.errstate(all="ignore"):
        r = (n * reg.sxy - sx * sy) / np.sqrt((n * reg.sxx - sx * sx) * (n * reg.syy() - sy * sy))
        out = r * r
    out[(rolling_std(geo, y, w) if std is None else std) <= STD_EPS] = np.nan
    return out


def rolling_wma(geo: Series2D, a: np.ndarray, w: int) -> np.ndarray:
    """Qlib's WMA: weights 1..L over the (clipped) window of length L normalised to sum 1, then *nanmean*."""
    x = np.asarray(a, dtype=np.float64)
    valid = ~np.isnan(x)
    rows = np.arange(geo.t, dtype=np.float64)[None, :]
    lo = geo.window_start(w).astype(np.float64)
    length = rows - lo + 1
    sx = rolling_sum(geo, x, w)
    sxr = rolling_sum(geo, x * rows, w)
    count = _window_counts(geo, valid, w)
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
        for rows, win in _window_chunks(geo, x, w):
            mean = np.nanmean(win, axis=2)
            out[rows] = np.nanmean(np.abs(win - mean[..., None]), axis=2)
    out[~geo.inside] = np.nan
    return out

"""Qlib's per-day z-scores (``CSZScoreNorm``, plain and robust) for every trading day at once, bit for bit.

Qlib computes them as ``df.groupby("datetime").apply(zscore)``: pandas' ``nanops`` per day and column. The
last bit of those reductions comes from NumPy's summation order, so the kernel here replays it rather than
summing its own way:

- ``nanmean`` of float32: NaN → 0, a float32 pairwise sum (NumPy's ``pairwise_sum``: eight accumulators over
  blocks of up to 128, halves split at a multiple of 8, below 8 a plain loop), ÷ the float32 count;
- ``nanstd`` (ddof 1): a float64 pairwise sum of the float32 values — in NumPy's cast buffers of 8,192
  elements, each summed pairwise and added in turn — ÷ count, the float64 squares of the deviations summed
  pairwise, ÷ (count − 1), rounded to float32, then a float32 square root;
- ``(x − mean) / std`` in float32;
- the robust variant's medians as ``nanmedian`` takes them from NumPy (see `cs_robust_zscore`).

One compiled pass over the days instead of pandas reductions per day from Python (1,500 days: 0.2 s of
dispatch for one label column). ``tests/aistock_core/models/test_cross_section.py`` checks both against Qlib's
functions on pandas frames, on days of every length class, with NaN, ±inf, constant and near-empty days.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from aistock_core.factors.kernels import kernel

#: elements per cast buffer of NumPy's iterator (``np.getbufsize()``): a float32 → float64 sum is pairwise
#: within each buffer, and the buffers' sums are added one after another
_CAST_BUFFER = 8192


@njit(cache=True)
def _block(a: np.ndarray, lo: int, n: int, zero):  # pragma: no cover - jit
    """NumPy's pairwise sum of a leaf (``n`` ≤ 128): a plain loop below 8, else eight accumulators."""
    if n < 8:
        res = zero
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    end = lo + n - n % 8
    for i in range(lo + 8, end, 8):
        r0 += a[i]
        r1 += a[i + 1]
        r2 += a[i + 2]
        r3 += a[i + 3]
        r4 += a[i + 4]
        r5 += a[i + 5]
        r6 += a[i + 6]
        r7 += a[i + 7]
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for i in range(end, lo + n):
        res += a[i]
    return res


@njit(cache=True)
def _pairwise(a: np.ndarray, lo: int, n: int, zero):  # pragma: no cover - jit
    """NumPy's ``pairwise_sum`` of ``a[lo:lo + n]`` in the type of ``zero``: above 128 elements, the sum of the
    two halves (the first a multiple of 8 long). Walked with an explicit stack, left before right: numba
    cannot cache a recursive function."""
    if n <= 128:
        return _block(a, lo, n, zero)
    starts = np.empty(64, dtype=np.int64)
    sizes = np.empty(64, dtype=np.int64)
    stage = np.zeros(64, dtype=np.int64)  # 0: nothing summed, 1: left summed, 2: both summed
    sums = np.full(64, zero)
    starts[0], sizes[0], top, done = lo, n, 0, 0
    while top >= 0:
        size = sizes[top]
        if size <= 128:
            sums[done] = _block(a, starts[top], size, zero)
            done += 1
            top -= 1
            continue
        half = size // 2
        half -= half % 8
        if stage[top] == 2:
            done -= 1
            sums[done - 1] = sums[done - 1] + sums[done]
            top -= 1
            continue
        stage[top] += 1
        child = top + 1
        starts[child] = starts[top] if stage[top] == 1 else starts[top] + half
        sizes[child] = half if stage[top] == 1 else size - half
        stage[child] = 0
        top = child
    return sums[0]


def cs_zscore(x: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """``(x − mean) / std`` per day and column of a (columns × rows) array whose day ``d`` is rows
    ``bounds[d]:bounds[d + 1]``: pandas' nanmean and nanstd (ddof 1) exactly, NaN where a day has < 2 values.

    float32 stays float32 (its sums as above); other arrays are float64, whose sums need no cast buffers.
    """
    return _per_day(x, bounds, robust=False)


def cs_robust_zscore(x: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Qlib's ``robust_zscore`` per day and column (`cs_zscore`'s layout): x − median, ÷ MAD, ÷ 1.4826 (two
    divisions in x's dtype), clipped to ±3, the medians as pandas' ``nanmedian`` takes them (NaN skipped, the
    two middle values averaged in x's dtype) — through NumPy's 1-D median for one column, its masked-array median
    for several on days under 600 rows."""
    return _per_day(x, bounds, robust=True)


def _per_day(x: np.ndarray, bounds: np.ndarray, robust: bool) -> np.ndarray:
    """One of the norms over every day and column: float32 stays float32, anything else is float64."""
    x = np.ascontiguousarray(x if x.dtype == np.float32 else np.asarray(x, dtype=np.float64))
    ftype = np.float32 if x.dtype == np.float32 else np.float64
    buffer = _CAST_BUFFER if ftype is np.float32 else max(x.shape[1], 1)
    return _cs_norm(x, np.asarray(bounds, dtype=np.int64), ftype, buffer, robust)


#: days shorter than this take NumPy's masked-array median when several columns are reduced at once
#: (``np.nanmedian``'s ``_nanmedian_small``), which averages the middle value with itself for an odd count
_SMALL_MEDIAN = 600


@kernel
def _cs_norm(x: np.ndarray, bounds: np.ndarray, ftype, buffer: int,
             robust: bool) -> np.ndarray:  # pragma: no cover - jit
    """`cs_zscore` (or, ``robust``, `cs_robust_zscore`) in ``ftype``, x's dtype, one column of one day at a time;
    ``buffer``: elements per float64 pairwise sum of the variance."""
    k = x.shape[0]
    out = np.empty_like(x)
    for d in range(len(bounds) - 1):
        lo, hi = bounds[d], bounds[d + 1]
        odd_twice = k > 1 and hi - lo < _SMALL_MEDIAN
        for c in range(k):
            if robust:
                _robust_zscore_day(x[c, lo:hi], out[c, lo:hi], odd_twice, ftype)
            else:
                _zscore_day(x[c, lo:hi], out[c, lo:hi], ftype, buffer)
    return out


@njit(cache=True)
def _zscore_day(day: np.ndarray, out: np.ndarray, ftype, buffer: int) -> None:  # pragma: no cover - jit
    """pandas' nanmean and nanstd (ddof 1) of one column's day, and ``(day − mean) / std`` into ``out``."""
    m = day.shape[0]
    zero = ftype(0)
    filled = np.empty(m, dtype=ftype)
    wide = np.empty(m)
    n = 0
    for i in range(m):
        v = day[i]
        if v != v:
            filled[i] = 0
        else:
            filled[i] = v
            n += 1
        wide[i] = filled[i]
    count = ftype(n)
    total = zero + _pairwise(filled, 0, m, zero)
    mean = total / count if n > 0 else ftype(np.nan)
    wide_total = 0.0
    for start in range(0, m, buffer):
        wide_total += _pairwise(wide, start, min(buffer, m - start), 0.0)
    avg = wide_total / np.float64(count)
    squares = np.empty(m)
    for i in range(m):
        dev = avg - wide[i]
        squares[i] = 0.0 if day[i] != day[i] else dev * dev
    ssq = 0.0 + _pairwise(squares, 0, m, 0.0)
    var = ftype(np.nan) if n <= 1 else ftype(ssq / np.float64(count - ftype(1)))
    std = np.sqrt(var)
    for i in range(m):
        out[i] = (day[i] - mean) / std


@njit(cache=True)
def _robust_zscore_day(day: np.ndarray, out: np.ndarray, odd_twice: bool, ftype) -> None:  # pragma: no cover - jit
    """Qlib's robust_zscore of one column's day into ``out``: the values (then the absolute deviations) gathered
    without NaN for the medians."""
    m = day.shape[0]
    buf = np.empty(m, dtype=ftype)
    n = 0
    for i in range(m):
        if day[i] == day[i]:
            buf[n] = day[i]
            n += 1
    median = _median(buf, n, odd_twice, ftype)
    n = 0
    for i in range(m):
        dev = day[i] - median
        if dev == dev:
            buf[n] = abs(dev)
            n += 1
    mad = _median(buf, n, odd_twice, ftype)
    scale = ftype(1.4826)
    for i in range(m):
        z = (day[i] - median) / mad / scale
        out[i] = z if z != z else min(max(z, ftype(-3)), ftype(3))


@njit(cache=True)
def _median(values: np.ndarray, n: int, odd_twice: bool, ftype):  # pragma: no cover - jit
    """Median of ``values[:n]`` (no NaN) in ``ftype``; ``odd_twice``: an odd count's middle value is averaged
    with itself, as NumPy's masked median does (it differs from the value itself only by overflowing)."""
    if n == 0:
        return ftype(np.nan)
    ordered = np.sort(values[:n])
    high = ordered[n // 2]
    if n % 2:
        return (high + high) / ftype(2) if odd_twice else high
    return (ordered[n // 2 - 1] + high) / ftype(2)

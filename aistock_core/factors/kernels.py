"""numba window kernels: pandas' and Qlib's own per-series recurrences, one block of series per call.

Each kernel takes (N, T) float64 C-contiguous arrays — one row per instrument — and ``first``/``last`` (N,),
the rows where each instrument's series starts and ends (Qlib's series has no rows outside them: cells there
are NaN and nothing reads them, which spares delisted names' tails), and walks every row exactly as
the reference walks one series: pandas' ``roll_sum/roll_mean/roll_var`` (Kahan sums, Welford variance and the
"same value repeated" rule that makes a constant window's Std exactly 0), pandas' monotonic-deque min/max,
pandas' skiplist quantile/rank (the same order statistics from a sorted buffer) and Qlib's Cython rolling
regression (``qlib/data/_libs/rolling.pyx``). The same IEEE operations in the same order give bit-identical
results (numba does not reassociate or fuse without ``fastmath``); ``tests/aistock_core/factors/test_ops.py``
proves it against pandas and a line-by-line port of Qlib's loop.

Why numba rather than one pandas call over the concatenated series: the kernels skip pandas' per-call bound
arrays and fuse what pandas does in several passes (every quantile level and the rank of a window from one
sorted buffer; Corr's five moments in one pass; slope, r² and residual from one regression pass).

Parallelism: each kernel is serial and releases the GIL (``nogil``); the factor engine runs blocks of
instruments on threads, so one block's kernels overlap another's Python steps. (numba's own ``prange`` threads
parallelise each call instead, but leave the Python between thousands of short calls serial, open an OpenMP
region per call and load a threading layer in every process: about 15 % slower on 2 cores.)

Windows: ``w`` ≥ 1 rows, clipped at the series start (Qlib's ``min_periods=1``); ``w == 0`` is expanding.
Compiled functions are cached on disk (``cache=True``: about 10 s of compilation once per install, then a
fraction of a second to load per process); where the package directory is read-only numba falls back to its
user-wide cache directory (or ``NUMBA_CACHE_DIR``).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


def kernel(fn):
    """Serial kernel that releases the GIL, cached on disk where numba finds a writable place (in-tree
    ``__pycache__``, else its user-wide cache dir); with none at all (read-only install, no home) it still
    works, compiling per process. ``error_model="numpy"``: x/0 is ±inf/NaN as in C and numpy, not a
    ZeroDivisionError."""
    try:
        return njit(cache=True, nogil=True, error_model="numpy")(fn)
    except RuntimeError:  # numba: "cannot cache function ...: no locator available"
        return njit(nogil=True, error_model="numpy")(fn)

_NAN = np.nan


# pandas' running states, one statement each as in ``aggregations.pyx``; tuples keep them in registers.
@njit(inline="always")
def _sum_add(val, nobs, total, comp, neg, prev, same):  # pragma: no cover - jit
    """pandas' ``add_sum``/``add_mean``: Kahan-compensated, counting negatives and repeats of one value."""
    if val == val:
        nobs += 1
        y = val - comp
        tt = total + y
        comp = tt - total - y
        total = tt
        if math.copysign(1.0, val) < 0:
            neg += 1
        same = same + 1 if val == prev else 1
        prev = val
    return nobs, total, comp, neg, prev, same


@njit(inline="always")
def _sum_remove(val, nobs, total, comp, neg):  # pragma: no cover - jit
    """pandas' ``remove_sum``/``remove_mean`` (its own compensation term)."""
    if val == val:
        nobs -= 1
        y = -val - comp
        tt = total + y
        comp = tt - total - y
        total = tt
        if math.copysign(1.0, val) < 0:
            neg -= 1
    return nobs, total, comp, neg


@njit(inline="always")
def _var_add(val, nobs, mean, ssq, comp, prev, same):  # pragma: no cover - jit
    """pandas' ``add_var``: Welford's update with a Kahan-compensated mean."""
    if val == val:
        nobs += 1
        same = same + 1 if val == prev else 1
        prev = val
        prev_mean = mean - comp
        y = val - comp
        tt = y - mean
        comp = tt + mean - y
        mean = mean + tt / nobs
        ssq = ssq + (val - prev_mean) * (val - mean)
    return nobs, mean, ssq, comp, prev, same


@njit(inline="always")
def _var_remove(val, nobs, mean, ssq, comp):  # pragma: no cover - jit
    """pandas' ``remove_var``."""
    if val == val:
        nobs -= 1
        if nobs:
            prev_mean = mean - comp
            y = val - comp
            tt = y - mean
            comp = tt + mean - y
            mean = mean - tt / nobs
            ssq = ssq - (val - prev_mean) * (val - mean)
        else:
            mean = 0.0
            ssq = 0.0
    return nobs, mean, ssq, comp


@njit(inline="always")
def _sum_result(nobs, total, prev, same):  # pragma: no cover - jit
    """pandas' ``calc_sum`` (min_periods=1): a repeated value gives value × count exactly."""
    if nobs < 1:
        return _NAN
    return prev * nobs if same >= nobs else total


@njit(inline="always")
def _mean_result(nobs, total, neg, prev, same):  # pragma: no cover - jit
    """pandas' ``calc_mean``: a repeated value is itself; an all-positive (negative) window never goes below
    (above) zero."""
    if nobs < 1:
        return _NAN
    res = total / nobs
    if same >= nobs:
        res = prev
    elif (neg == 0 and res < 0) or (neg == nobs and res > 0):
        res = 0.0
    return res


@njit(inline="always")
def _var_result(nobs, ssq, same):  # pragma: no cover - jit
    """pandas' ``calc_var`` with ddof=1: NaN below two observations, exactly 0 on a repeated value."""
    if nobs < 2:
        return _NAN
    if same >= nobs:
        return 0.0
    return ssq / (nobs - 1.0)


@kernel
def roll_sum_mean(x: np.ndarray, first: np.ndarray, last: np.ndarray, w: int,
                  mean: bool) -> np.ndarray:  # pragma: no cover - jit
    """pandas' ``roll_sum`` or ``roll_mean``, one series per row, its state in registers."""
    n, t = x.shape
    out = np.empty((n, t))
    for i in range(n):
        f = min(first[i], t)
        e = max(min(last[i], t), f)  # rows after the series ends are never read: NaN
        out[i, e:] = _NAN
        out[i, :f] = _NAN
        nobs = neg = same = 0
        total = comp_add = comp_rem = prev = 0.0
        for j in range(f, e):
            val = x[i, j]
            if j == f or w == 1:  # the window does not overlap the previous one: pandas starts afresh
                nobs = neg = same = 0
                total = comp_add = comp_rem = 0.0
                prev = val
            elif w > 0 and j - w >= f:
                nobs, total, comp_rem, neg = _sum_remove(x[i, j - w], nobs, total, comp_rem, neg)
            nobs, total, comp_add, neg, prev, same = _sum_add(val, nobs, total, comp_add, neg, prev, same)
            if mean:
                out[i, j] = _mean_result(nobs, total, neg, prev, same)
            else:
                out[i, j] = _sum_result(nobs, total, prev, same)
    return out


#: series `roll_var` steps through time side by side
_LANES = 16


@kernel
def roll_var(x: np.ndarray, first: np.ndarray, last: np.ndarray, w: int) -> np.ndarray:  # pragma: no cover - jit
    """pandas' ``roll_var`` with ddof=1, one series per row.

    Welford's update divides twice per step on one dependency chain, so a lone series waits on division
    latency; the kernel therefore steps `_LANES` independent series side by side (their state in small arrays)
    and the CPU overlaps their divisions. The operations within a series, and so every bit, are unchanged.
    (Sums and means have no division in the chain: `roll_sum_mean` keeps one series per loop, in registers.)
    """
    n, t = x.shape
    out = np.empty((n, t))
    for c in range((n + _LANES - 1) // _LANES):
        lo = c * _LANES
        r = min(lo + _LANES, n) - lo
        f = np.empty(r, dtype=np.int64)
        e = np.empty(r, dtype=np.int64)
        nobs = np.zeros(r, dtype=np.int64)
        same = np.zeros(r, dtype=np.int64)
        mean = np.zeros(r)
        ssq = np.zeros(r)
        comp_add = np.zeros(r)
        comp_rem = np.zeros(r)
        prev = np.zeros(r)
        for k in range(r):
            f[k] = min(first[lo + k], t)
            e[k] = max(min(last[lo + k], t), f[k])  # rows after the series ends are never read: NaN
        for j in range(t):
            for k in range(r):
                i = lo + k
                fk = f[k]
                if j < fk or j >= e[k]:
                    out[i, j] = _NAN
                    continue
                val = x[i, j]
                if j == fk or w == 1:  # the window does not overlap the previous one: pandas starts afresh
                    nobs[k] = same[k] = 0
                    mean[k] = ssq[k] = comp_add[k] = comp_rem[k] = 0.0
                    prev[k] = val
                elif w > 0 and j - w >= fk:
                    nobs[k], mean[k], ssq[k], comp_rem[k] = _var_remove(
                        x[i, j - w], nobs[k], mean[k], ssq[k], comp_rem[k])
                nobs[k], mean[k], ssq[k], comp_add[k], prev[k], same[k] = _var_add(
                    val, nobs[k], mean[k], ssq[k], comp_add[k], prev[k], same[k])
                out[i, j] = _var_result(nobs[k], ssq[k], same[k])
    return out


@kernel
def roll_corr(x: np.ndarray, y: np.ndarray, first: np.ndarray, last: np.ndarray, w: int,
              var_cap: float) -> np.ndarray:  # pragma: no cover - jit
    """pandas' rolling ``corr`` then Qlib's mask, fused into one pass per series.

    pandas pair-masks the inputs (each NaN where the other is) and combines five rolling passes:
    ``(mean(xy) - mean(x)·mean(y)) · n/(n-1) / sqrt(var(x)·var(y))``; the same states run side by side here.
    Qlib then blanks cells where either *input's own* rolling std (unmasked) is ≤ eps: where the two series
    have the same NaN cells — the usual case — the masked variances are those, bit for bit; elsewhere two more
    Welford states follow the unmasked inputs.

    The step is bound by the CPU's divider, so two of its operations are taken off it without changing a bit:
    ``sqrt(v) ≤ eps or v < 0`` is ``v ≤ var_cap`` (`rolling.largest_var_within`: a rounded square root never
    decreases), and ``n / (n - 1)`` comes from a table of the same quotients.
    """
    n, t = x.shape
    out = np.empty((n, t))
    ratio = np.empty((w if w > 0 else t) + 1)  # pandas' count / (count - 1) for every count a window can hold
    for c in range(ratio.shape[0]):
        ratio[c] = c / (c - 1.0)
    for i in range(n):
        f = min(first[i], t)
        e = max(min(last[i], t), f)  # rows after the series ends are never read: NaN
        out[i, e:] = _NAN
        out[i, :f] = _NAN
        split = False  # do the NaN patterns differ (pair masking changes the series)?
        for j in range(f, e):
            if (x[i, j] != x[i, j]) != (y[i, j] != y[i, j]):
                split = True
                break
        n_xy = n_x = n_y = neg_xy = neg_x = neg_y = same_xy = same_x = same_y = 0
        s_xy = s_x = s_y = ca_xy = ca_x = ca_y = cr_xy = cr_x = cr_y = p_xy = p_x = p_y = 0.0
        vn_x = vn_y = vsame_x = vsame_y = un_x = un_y = usame_x = usame_y = 0
        m_x = m_y = q_x = q_y = va_x = va_y = vr_x = vr_y = vp_x = vp_y = 0.0
        um_x = um_y = uq_x = uq_y = ua_x = ua_y = ur_x = ur_y = up_x = up_y = 0.0
        for j in range(f, e):
            ux, uy = x[i, j], y[i, j]
            a, b = (_NAN, _NAN) if ux != ux or uy != uy else (ux, uy)
            ab = a * b
            if j == f or w == 1:
                n_xy = n_x = n_y = neg_xy = neg_x = neg_y = same_xy = same_x = same_y = 0
                s_xy = s_x = s_y = ca_xy = ca_x = ca_y = cr_xy = cr_x = cr_y = 0.0
                vn_x = vn_y = vsame_x = vsame_y = un_x = un_y = usame_x = usame_y = 0
                m_x = m_y = q_x = q_y = va_x = va_y = vr_x = vr_y = 0.0
                um_x = um_y = uq_x = uq_y = ua_x = ua_y = ur_x = ur_y = 0.0
                p_xy, p_x, p_y, vp_x, vp_y, up_x, up_y = ab, a, b, a, b, ux, uy
            elif w > 0 and j - w >= f:
                ox, oy = x[i, j - w], y[i, j - w]
                oa, ob = (_NAN, _NAN) if ox != ox or oy != oy else (ox, oy)
                n_xy, s_xy, cr_xy, neg_xy = _sum_remove(oa * ob, n_xy, s_xy, cr_xy, neg_xy)
                n_x, s_x, cr_x, neg_x = _sum_remove(oa, n_x, s_x, cr_x, neg_x)
                n_y, s_y, cr_y, neg_y = _sum_remove(ob, n_y, s_y, cr_y, neg_y)
                vn_x, m_x, q_x, vr_x = _var_remove(oa, vn_x, m_x, q_x, vr_x)
                vn_y, m_y, q_y, vr_y = _var_remove(ob, vn_y, m_y, q_y, vr_y)
                if split:
                    un_x, um_x, uq_x, ur_x = _var_remove(ox, un_x, um_x, uq_x, ur_x)
                    un_y, um_y, uq_y, ur_y = _var_remove(oy, un_y, um_y, uq_y, ur_y)
            n_xy, s_xy, ca_xy, neg_xy, p_xy, same_xy = _sum_add(ab, n_xy, s_xy, ca_xy, neg_xy, p_xy, same_xy)
            n_x, s_x, ca_x, neg_x, p_x, same_x = _sum_add(a, n_x, s_x, ca_x, neg_x, p_x, same_x)
            n_y, s_y, ca_y, neg_y, p_y, same_y = _sum_add(b, n_y, s_y, ca_y, neg_y, p_y, same_y)
            vn_x, m_x, q_x, va_x, vp_x, vsame_x = _var_add(a, vn_x, m_x, q_x, va_x, vp_x, vsame_x)
            vn_y, m_y, q_y, va_y, vp_y, vsame_y = _var_add(b, vn_y, m_y, q_y, va_y, vp_y, vsame_y)
            var_x = _var_result(vn_x, q_x, vsame_x)
            var_y = _var_result(vn_y, q_y, vsame_y)
            own_x, own_y = var_x, var_y
            if split:
                un_x, um_x, uq_x, ua_x, up_x, usame_x = _var_add(ux, un_x, um_x, uq_x, ua_x, up_x, usame_x)
                un_y, um_y, uq_y, ua_y, up_y, usame_y = _var_add(uy, un_y, um_y, uq_y, ua_y, up_y, usame_y)
                own_x = _var_result(un_x, uq_x, usame_x)
                own_y = _var_result(un_y, uq_y, usame_y)
            if own_x <= var_cap or own_y <= var_cap:  # an input's std (pandas' zsqrt) ≤ eps
                out[i, j] = _NAN
                continue
            mean_xy = _mean_result(n_xy, s_xy, neg_xy, p_xy, same_xy)
            mean_x = _mean_result(n_x, s_x, neg_x, p_x, same_x)
            mean_y = _mean_result(n_y, s_y, neg_y, p_y, same_y)
            num = (mean_xy - mean_x * mean_y) * ratio[n_xy]  # pandas: count = roll_sum of notna(x + y), exact
            out[i, j] = num / np.sqrt(var_x * var_y)
    return out


@kernel
def roll_extreme(x: np.ndarray, first: np.ndarray, last: np.ndarray, w: int,
                 is_max: bool) -> np.ndarray:  # pragma: no cover - jit
    """pandas' ``roll_max``/``roll_min`` (Bottleneck's monotonic deque): the extreme of the window's non-NaN
    values, the newest of equal values, NaN when the window has none."""
    n, t = x.shape
    out = np.empty((n, t))
    for i in range(n):
        f = min(first[i], t)
        e = max(min(last[i], t), f)  # rows after the series ends are never read: NaN
        out[i, e:] = _NAN
        for j in range(f):
            out[i, j] = _NAN
        q = np.empty(max(t - f, 1), dtype=np.int64)
        head = 0
        tail = 0
        nobs = 0
        for j in range(f, e):
            lo = f if w == 0 else max(j - w + 1, f)
            val = x[i, j]
            if val == val:
                nobs += 1
                key = val
            else:
                key = -np.inf if is_max else np.inf
            while tail > head:
                back = x[i, q[tail - 1]]
                if back != back or (key >= back if is_max else key <= back):
                    tail -= 1
                else:
                    break
            q[tail] = j
            tail += 1
            while tail > head and q[head] < lo:
                head += 1
            if w > 0 and j - w >= f:
                old = x[i, j - w]
                if old == old:
                    nobs -= 1
            out[i, j] = x[i, q[head]] if nobs >= 1 else _NAN
    return out


@njit(inline="always")
def _count_below(buf, nobs, val):  # pragma: no cover - jit
    """Position of the first value ≥ ``val`` in sorted ``buf[:nobs]``, counted rather than bisected: a
    window holds at most a few dozen values, and a branch-free count vectorises where a binary search
    mispredicts (3-4x faster at 60 sessions)."""
    c = 0
    for m in range(nobs):
        c += buf[m] < val
    return c


@njit(inline="always")
def _count_upto(buf, nobs, val):  # pragma: no cover - jit
    """Position of the first value > ``val`` in sorted ``buf[:nobs]`` (see `_count_below`)."""
    c = 0
    for m in range(nobs):
        c += buf[m] <= val
    return c


@njit(inline="always")
def _slide(buf, nobs, new, old):  # pragma: no cover - jit
    """Sorted buffer of a window's non-NaN values: insert ``new``, drop ``old`` (NaN = nothing), moving only the
    values between the two positions. Returns the new count."""
    if new == new and old == old:
        pos_old = _count_below(buf, nobs, old)
        pos_new = _count_upto(buf, nobs, new)
        if pos_new > pos_old:  # the gap left by ``old`` moves up to where ``new`` belongs
            for m in range(pos_old, pos_new - 1):
                buf[m] = buf[m + 1]
            buf[pos_new - 1] = new
        else:
            for m in range(pos_old, pos_new, -1):
                buf[m] = buf[m - 1]
            buf[pos_new] = new
        return nobs
    if new == new:
        pos = _count_upto(buf, nobs, new)
        for m in range(nobs, pos, -1):
            buf[m] = buf[m - 1]
        buf[pos] = new
        return nobs + 1
    if old == old:
        pos = _count_below(buf, nobs, old)
        for m in range(pos, nobs - 1):
            buf[m] = buf[m + 1]
        return nobs - 1
    return nobs


@kernel
def roll_order_stats(x: np.ndarray, first: np.ndarray, last: np.ndarray, w: int, qs: np.ndarray,
                     rank: bool) -> np.ndarray:  # pragma: no cover - jit
    """pandas' linear ``roll_quantile`` for every level in ``qs`` and, if ``rank``, ``roll_rank(pct=True,
    method="average")`` — all from one sorted buffer of the window's non-NaN values per series, which holds
    the same order statistics as pandas' skiplist: (len(qs) + rank, N, T), the rank last."""
    n, t = x.shape
    k_q = qs.shape[0]
    out = np.empty((k_q + (1 if rank else 0), n, t))
    for i in range(n):
        f = min(first[i], t)
        e = max(min(last[i], t), f)  # rows after the series ends are never read: NaN
        out[:, i, e:] = _NAN
        out[:, i, :f] = _NAN
        buf = np.empty(max(w if w > 0 else t - f, 1))
        nobs = 0
        for j in range(f, e):
            val = x[i, j]
            nobs = _slide(buf, nobs, val, x[i, j - w] if w > 0 and j - w >= f else _NAN)
            for k in range(k_q):
                if nobs == 0:
                    out[k, i, j] = _NAN
                elif nobs == 1:
                    out[k, i, j] = buf[0]
                else:
                    frac = qs[k] * (nobs - 1)
                    idx = int(frac)
                    if frac == idx:
                        out[k, i, j] = buf[idx]
                    else:
                        low = buf[idx]
                        out[k, i, j] = low + (buf[idx + 1] - low) * (frac - idx)
            if rank:
                if val != val:
                    out[k_q, i, j] = _NAN
                else:  # pandas: average of the min and max rank of ``val``, over the count
                    top = float(_count_upto(buf, nobs, val))
                    low = _count_below(buf, nobs, val) + 1.0
                    out[k_q, i, j] = ((top * (top + 1) / 2) - ((low - 1) * low / 2)) / (top - low + 1) / nobs
    return out


@kernel
def roll_idx_extreme(x: np.ndarray, first: np.ndarray, last: np.ndarray, w: int,
                     is_max: bool) -> np.ndarray:  # pragma: no cover - jit
    """Qlib's IdxMax/IdxMin (``rolling.apply(lambda x: x.argmax() + 1)``): numpy's argmax over the raw window
    — the first NaN wins, ties go to the oldest — 1-based; NaN when the window has no observation.

    A monotonic deque on one key per cell (NaN = +inf; otherwise the value, negated for IdxMin) that keeps
    the older of equal keys in front gives exactly that in O(1) per cell.
    """
    n, t = x.shape
    out = np.empty((n, t))
    for i in range(n):
        f = min(first[i], t)
        e = max(min(last[i], t), f)  # rows after the series ends are never read: NaN
        out[i, e:] = _NAN
        for j in range(f):
            out[i, j] = _NAN
        q = np.empty(max(t - f, 1), dtype=np.int64)
        keys = np.empty(max(t - f, 1))
        head = 0
        tail = 0
        nobs = 0
        for j in range(f, e):
            lo = f if w == 0 else max(j - w + 1, f)
            val = x[i, j]
            if val == val:
                nobs += 1
                key = val if is_max else -val
            else:
                key = np.inf
            while tail > head and keys[tail - 1] < key:
                tail -= 1
            q[tail] = j
            keys[tail] = key
            tail += 1
            while q[head] < lo:
                head += 1
            if w > 0 and j - w >= f:
                old = x[i, j - w]
                if old == old:
                    nobs -= 1
            out[i, j] = q[head] - lo + 1.0 if nobs >= 1 else _NAN
    return out


@kernel
def regression(y: np.ndarray, first: np.ndarray, last: np.ndarray, w: int) -> np.ndarray:  # pragma: no cover - jit
    """Qlib's ``rolling_slope/rsquare/resi`` (x = slot 1..w, NaN slots skipped) in one pass per series:
    (3, N, T) = slope, r² (before Qlib's std mask), today's residual. The running sums follow Qlib's Cython
    recurrence statement by statement, so their rounding residue — which decides degenerate windows after a
    suspension (±inf, 0 or NaN) — is Qlib's."""
    n, t = y.shape
    out = np.empty((3, n, t))
    for i in range(n):
        f = min(first[i], t)
        e = max(min(last[i], t), f)  # rows after the series ends are never read: NaN
        out[:, i, e:] = _NAN
        for j in range(f):
            out[0, i, j] = _NAN
            out[1, i, j] = _NAN
            out[2, i, j] = _NAN
        na_count = w
        i_sum = 0.0
        x_sum = 0.0
        x2_sum = 0.0
        y_sum = 0.0
        y2_sum = 0.0
        xy_sum = 0.0
        for j in range(f, e):
            val = y[i, j]
            xy_sum = xy_sum - y_sum
            x2_sum = x2_sum + i_sum - 2 * x_sum
            x_sum = x_sum - i_sum
            front = y[i, j - w] if j - w >= f else _NAN
            if front == front:
                i_sum -= 1
                y_sum -= front
                y2_sum -= front * front
            else:
                na_count -= 1
            if val != val:
                na_count += 1
            else:
                i_sum += 1
                x_sum += w
                x2_sum += w * w
                y_sum += val
                y2_sum += val * val
                xy_sum += w * val
            cnt = w - na_count
            num = cnt * xy_sum - x_sum * y_sum
            den = cnt * x2_sum - x_sum * x_sum
            slope = num / den
            out[0, i, j] = slope
            r = num / np.sqrt(den * (cnt * y2_sum - y_sum * y_sum))
            out[1, i, j] = r * r
            interp = y_sum / cnt - slope * (x_sum / cnt)
            out[2, i, j] = val - (slope * w + interp)
    return out


@kernel
def store(value: np.ndarray, listed: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - jit
    """Write (N, T) ``value`` transposed into (T, N) float32 ``out``, NaN where not listed: one fused pass
    instead of a transposing cast, a mask and a strided copy (Qlib's frames hold float32)."""
    t, n = out.shape
    for j in range(t):
        for i in range(n):
            out[j, i] = np.float32(value[i, j]) if listed[j, i] else np.float32(np.nan)


ADD, SUB, MUL, DIV = 0, 1, 2, 3


@kernel
def arith(a: np.ndarray, b: np.ndarray, op: int, out: np.ndarray) -> None:  # pragma: no cover - jit
    """``out = a (+ - * /) b`` over (N, T), reading mixed float32/float64 operands directly
    (numpy would first cast the float32 side through a buffer). ``out`` has numpy's result dtype: when it is
    float32 both operands are float32, and a float64 +, -, × or ÷ of two float32 values rounds to exactly the
    float32 result (double rounding is innocuous for these operations), so the values equal numpy's."""
    n, t = out.shape
    for i in range(n):
        for j in range(t):
            x = a[i, j]
            y = b[i, j]
            if op == ADD:
                out[i, j] = x + y
            elif op == SUB:
                out[i, j] = x - y
            elif op == MUL:
                out[i, j] = x * y
            else:
                out[i, j] = x / y


@kernel
def scatter(value: np.ndarray, dest: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - jit
    """``out[dest[j, i]] = float32(value[i, j])`` where ``dest[j, i] ≥ 0``: (N, T) ``value`` straight into the
    rows of a long frame's column (a day's rows are adjacent: each day writes one small range)."""
    t, n = dest.shape
    for j in range(t):
        for i in range(n):
            m = dest[j, i]
            if m >= 0:
                out[m] = np.float32(value[i, j])

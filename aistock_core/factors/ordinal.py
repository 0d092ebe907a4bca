"""Order-statistic window kernels: Quantile, Rank, IdxMax/IdxMin — exact, all series at once.

pandas computes rolling quantiles and ranks with a skiplist and Qlib's IdxMax with ``rolling.apply``; both are
slow per element. The numba kernels in `kernels` get the same numbers from a sorted buffer of each window
(quantiles and ranks: the skiplist's order statistics) and a monotonic deque (argmax), then apply pandas'
own final formulas, so the results are bit-identical (tests compare them with pandas and Qlib directly).
Inputs are (N, T) float64, NaN outside each series and ±inf already NaN (what pandas hands its window
functions). Expanding windows (``N = 0``) keep pandas' skiplist: their windows grow to the whole series.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pandas._libs.window import aggregations as _agg

from aistock_core.factors import kernels as K
from aistock_core.factors.rolling import Series2D, pandas_window, rolling_max, rolling_min


def rolling_order_stats(geo: Series2D, a: np.ndarray, w: int, qs: Sequence[float], rank: bool) -> list[np.ndarray]:
    """pandas' linear rolling quantile at each level of ``qs`` (``vlow + (vhigh - vlow) * (q·(nobs-1) - idx)``
    on the skiplist's order statistics) and, if ``rank``, the rolling pct rank last — all from one sorted
    buffer per series (QTLU, QTLD and RANK of one window share it). ``w`` ≥ 1."""
    x = np.ascontiguousarray(a, dtype=np.float64)
    return list(K.roll_order_stats(x, geo.first, geo.last, w, np.asarray(qs, dtype=np.float64).reshape(-1), rank))


def rolling_quantiles(geo: Series2D, a: np.ndarray, w: int, qs: Sequence[float]) -> list[np.ndarray]:
    """Several quantile levels of one window from one sorted buffer."""
    return rolling_order_stats(geo, a, w, qs, False)


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
    values over their count, from the same integers pandas' skiplist gives (bit-identical)."""
    if w == 0:
        return pandas_window(_agg.roll_rank, geo, a, 0, percentile=True, method="average", ascending=True)
    return rolling_order_stats(geo, a, w, (), True)[0]


def rolling_idx_extreme(geo: Series2D, a: np.ndarray, w: int, is_max: bool) -> np.ndarray:
    """Qlib's IdxMax/IdxMin: ``rolling(N, min_periods=1).apply(lambda x: x.argmax() + 1, raw=True)``.

    numpy's argmax returns the first NaN if the window has one and the oldest of tied extremes; windows are
    clipped at the series start; pandas hands ``apply`` ±inf as NaN; a window without any observation is NaN.
    """
    return K.roll_idx_extreme(np.ascontiguousarray(a, dtype=np.float64), geo.first, geo.last, w, is_max)

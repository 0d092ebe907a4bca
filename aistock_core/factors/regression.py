"""Qlib's rolling regression (Slope, Rsquare, Resi), bit-identical to ``qlib/data/_libs/rolling.pyx``.

Qlib runs a Cython loop per instrument that keeps running sums; floating-point residue in those sums decides
results such as a one-observation window after a suspension (±inf, 0 or NaN). `kernels.regression` runs the
same statements in the same order for every series in parallel, so even those cells match, and yields slope,
r² and residual from one pass (Alpha158 reads all three of each window).
"""

from __future__ import annotations

import numpy as np

from aistock_core.factors import kernels as K
from aistock_core.factors.rolling import STD_EPS, Series2D, rolling_std


class Regression:
    """Slope, r² (unmasked) and today's residual of Qlib's rolling fit for all series of one window.

    x is the window slot 1..w (newest = w); NaN slots are skipped; ±inf in ``y`` flow through the sums as in
    Qlib's C. One shared state per (series, window): the engine hands it to Slope, Resi and Rsquare.
    """

    def __init__(self, geo: Series2D, y: np.ndarray, w: int) -> None:
        y64 = np.ascontiguousarray(y, dtype=np.float64)
        self._slope, self._r2, self._resi = K.regression(y64, geo.first, geo.last, w)

    def slope(self) -> np.ndarray:
        return self._slope

    def r2(self) -> np.ndarray:
        """Qlib's ``rolling_rsquare`` before its std mask."""
        return self._r2

    def resi(self) -> np.ndarray:
        """Today's residual of the window's fit (NaN when today is NaN)."""
        return self._resi


def rolling_rsquare(geo: Series2D, y: np.ndarray, w: int, reg: Regression | None = None,
                    std: np.ndarray | None = None) -> np.ndarray:
    """r² of the window's fit, NaN where the input's rolling std is ≤ 2e-5 (Qlib's mask)."""
    reg = Regression(geo, y, w) if reg is None else reg
    out = reg.r2().copy()
    out[(rolling_std(geo, y, w) if std is None else std) <= STD_EPS] = np.nan
    return out

"""Qlib's rolling regression (Slope, Rsquare, Resi), bit-identical to ``qlib/data/_libs/rolling.pyx``.

Qlib runs a Cython loop per instrument that keeps running sums; floating-point residue in those sums decides
results such as a one-observation window after a suspension (±inf, 0 or NaN). We reproduce the same
additions in the same order for all series at once (see `_running`), so even those cells match.
"""

from __future__ import annotations

import numpy as np

from aistock_core.factors.rolling import STD_EPS, Series2D, rolling_std, window_counts


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
        self.n = window_counts(geo, valid, w).astype(np.float64)
        rows = np.arange(geo.t, dtype=np.int64)
        sr = window_counts(geo, valid * rows[None, :], w)
        srr = window_counts(geo, valid * (rows * rows)[None, :], w)
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

"""`cs_zscore` against pandas itself: a day frame's ``mean()`` and ``std()`` per day, as Qlib's CSZScoreNorm calls
them through ``groupby("datetime").apply``; equal bit for bit, not within a tolerance."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd
import pytest

from aistock_core.models.cross_section import cs_zscore

#: day lengths around every boundary of NumPy's summation: the plain loop (< 8), the eight-accumulator block
#: (≤ 128), the halving above it, and the 8,192-element cast buffers of the float64 variance sum
LENGTHS = [0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 127, 128, 129, 130, 136, 255, 256, 257, 1000, 5300, 8191, 8192,
           8193, 9000, 16384, 20001]


def pandas_zscore(x: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Qlib's zscore per day on the day's frame, through pandas' own DataFrame reductions."""
    out = np.empty_like(x)
    with np.errstate(all="ignore"):
        for lo, hi in pairwise(bounds):
            day = pd.DataFrame(x[:, lo:hi].T)
            out[:, lo:hi] = ((day - day.mean()).div(day.std())).to_numpy().T
    return out


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    both_nan = np.isnan(a) & np.isnan(b)
    return bool(((a.view(np.uint8) == b.view(np.uint8)).reshape(*a.shape, -1).all(axis=-1) | both_nan).all())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e4])
def test_every_day_equals_pandas(dtype, scale):
    rng = np.random.default_rng(int(scale * 1000) % 97)
    lengths = LENGTHS + list(rng.integers(1, 700, 40))
    bounds = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    x = (rng.standard_normal((3, bounds[-1])) * scale + 3 * scale).astype(dtype)
    x[rng.random(x.shape) < 0.1] = np.nan
    x[:, bounds[12]:bounds[13]] = 2.5  # a constant day: std 0
    x[0, bounds[20]:bounds[21]] = np.nan  # a column with no value on a day
    x[1, bounds[14] + 3] = np.inf
    x[2, bounds[15] + 1] = -np.inf
    ours = cs_zscore(x, bounds)
    assert ours.dtype == dtype
    assert same_bits(ours, pandas_zscore(x, bounds))


def test_a_day_needs_two_values_and_a_spread():
    x = np.array([[1.0, np.nan, 5.0, 5.0, 5.0, 1.0, 2.0]], dtype=np.float32)
    out = cs_zscore(x, np.array([0, 2, 5, 7]))
    assert np.isnan(out[0, :2]).all()  # one value: ddof 1 leaves no variance
    assert np.isnan(out[0, 2:5]).all()  # 0 / 0 on a constant day
    np.testing.assert_allclose(out[0, 5:], [-0.70710677, 0.70710677], rtol=1e-7)


def test_strided_input():
    rng = np.random.default_rng(5)
    bounds = np.array([0, 300, 700, 1000])
    wide = rng.standard_normal((4, 1000)).astype(np.float32)
    assert same_bits(cs_zscore(wide[::2], bounds), pandas_zscore(np.ascontiguousarray(wide[::2]), bounds))

"""`cs_zscore` and `cs_robust_zscore` against pandas itself: Qlib's ``zscore`` / ``robust_zscore`` on each day's
frame, as its CSZScoreNorm applies them through ``groupby("datetime").apply``; equal bit for bit, not within a
tolerance."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd
import pytest

from aistock_core.models.cross_section import cs_robust_zscore, cs_zscore

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


def pandas_robust_zscore(x: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Qlib's robust_zscore per day: x − median, ÷ MAD, ÷ 1.4826, clipped to ±3."""
    out = np.empty_like(x)
    with np.errstate(all="ignore"):
        for lo, hi in pairwise(bounds):
            day = pd.DataFrame(x[:, lo:hi].T)
            day = day - day.median()
            out[:, lo:hi] = np.clip(day / day.abs().median() / 1.4826, -3, 3).to_numpy().T
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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("columns", [1, 3])
def test_robust_every_day_equals_pandas(dtype, columns):
    """Odd and even counts, days around NumPy's 600-row switch of median method, one-row and empty days, an
    all-NaN column, a constant day (MAD 0: ±inf clipped to ±3, 0/0 NaN)."""
    rng = np.random.default_rng(columns)
    lengths = [0, 1, 2, 3, 4, 7, 8, 598, 599, 600, 601, 1001, *rng.integers(1, 900, 40)]
    bounds = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    x = (rng.standard_normal((columns, bounds[-1])) * 3).astype(dtype)
    x[rng.random(x.shape) < 0.15] = np.nan
    x[:, bounds[20]:bounds[21]] = 1.5
    x[:, bounds[20]] = 4.0  # one value off a constant day: MAD 0
    x[0, bounds[4]:bounds[5]] = np.nan
    ours = cs_robust_zscore(x, bounds)
    assert ours.dtype == dtype
    assert same_bits(ours, pandas_robust_zscore(x, bounds))


@pytest.mark.parametrize("columns", [1, 3])
def test_robust_median_overflows_as_numpy_does(columns):
    """Several columns on a short day go through NumPy's masked median, which averages an odd count's middle
    value with itself: near float32's largest value that overflows to inf, where the 1-D median does not."""
    x = np.tile(np.array([3e38, 3.1e38, 3.2e38, 1.0, 2.0], dtype=np.float32), (columns, 1))
    bounds = np.array([0, 5])
    assert same_bits(cs_robust_zscore(x, bounds), pandas_robust_zscore(x, bounds))

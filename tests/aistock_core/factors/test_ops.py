"""Every operator against a per-instrument reference written from Qlib 0.9.7's own definitions.

The reference does what ``qlib/data/ops.py`` does: one float32 pandas Series per instrument covering only its
listed rows, then ``series.rolling(N, min_periods=1).<f>()`` / ``.apply(...)`` / a line-by-line port of Qlib's
Cython regression, and a final ``astype(float32)``. Results must match bit for bit (NaN/inf included): the
engine computes everything at once on (instrument × time) arrays, and this is what proves it is the same thing.
The panel has a late listing, a delisting, short and long suspensions, a flat stretch and many ties.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from aistock_core.data.panel import Panel
from aistock_core.factors.engine import compute

T, N = 90, 6


@pytest.fixture(scope="module")
def panel() -> Panel:
    rng = np.random.default_rng(42)
    close = 10 * np.exp(np.cumsum(rng.normal(0, 0.02, (T, N)), axis=0))
    close[10:26, 4] = close[10, 4]  # flat stretch: Std exactly 0, Rsquare/Corr masked
    close[:, 5] = np.round(close[:, 5], 1)  # coarse ticks: ties for Rank/IdxMax/Quantile
    open_ = close * np.exp(rng.normal(0, 0.01, (T, N)))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.02, (T, N)))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.02, (T, N)))
    high[40:44, 5] = low[40:44, 5] = open_[40:44, 5] = close[40:44, 5]  # one-price bars
    volume = rng.integers(1, 50, (T, N)).astype(float) * 1e5
    listed = np.ones((T, N), dtype=bool)
    listed[:20, 1] = False  # lists on row 20
    listed[71:, 2] = False  # delisted after row 70
    values = {"close": close, "open": open_, "high": high, "low": low, "volume": volume}
    for arr in values.values():
        arr[30:37, 3] = np.nan  # a week suspended
        arr[50:59, 3] = np.nan  # longer than a 5-day window: windows with one or no observation
        arr[~listed] = np.nan
    dates = pd.DatetimeIndex(pd.bdate_range("2022-01-03", periods=T), name="datetime")
    instruments = pd.Index([f"60000{i}.SH" for i in range(N)], name="instrument")
    return Panel(dates, instruments, {k: v.astype(np.float32) for k, v in values.items()}, listed)


def series_of(panel: Panel, field: str, col: int) -> pd.Series:
    """One instrument's Qlib series: float32, only its listed rows."""
    rows = np.flatnonzero(panel.listed[:, col])
    return pd.Series(panel[field][rows, col], index=rows)


def _qlib_regression(values: np.ndarray, window: int, kind: str) -> np.ndarray:
    """Line-by-line port of qlib/data/_libs/rolling.pyx (Slope, Rsquare, Resi)."""
    barv = [math.nan] * window
    na_count, i_sum, x_sum, x2_sum, y_sum, y2_sum, xy_sum = window, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    out = np.empty(len(values))
    for k, val in enumerate(values.astype(np.float64).tolist()):  # Python floats: C doubles, no numpy warnings
        barv.append(val)
        xy_sum = xy_sum - y_sum
        x2_sum = x2_sum + i_sum - 2 * x_sum
        x_sum = x_sum - i_sum
        front = barv.pop(0)
        if not math.isnan(front):
            i_sum -= 1
            y_sum -= front
            y2_sum -= front * front
        else:
            na_count -= 1
        if math.isnan(val):
            na_count += 1
        else:
            i_sum += 1
            x_sum += window
            x2_sum += window * window
            y_sum += val
            y2_sum += val * val
            xy_sum += window * val
        n = window - na_count
        with np.errstate(all="ignore"):
            num = np.float64(n * xy_sum - x_sum * y_sum)
            den = np.float64(n * x2_sum - x_sum * x_sum)
            if kind == "rsquare":
                r = num / np.sqrt(den * np.float64(n * y2_sum - y_sum * y_sum))
                out[k] = r * r
            else:
                slope = num / den
                if kind == "slope":
                    out[k] = slope
                else:
                    interp = np.float64(y_sum) / n - slope * (np.float64(x_sum) / n)
                    out[k] = val - (slope * window + interp)
    return out


def _rolling(s: pd.Series, n: int):
    return s.rolling(n, min_periods=1)


def _mad(x):
    x1 = x[~np.isnan(x)]
    return np.mean(np.abs(x1 - x1.mean()))


def _wma(x):
    w = np.arange(len(x)) + 1
    w = w / w.sum()
    return np.nanmean(w * x)


def _inf_above_10(c: pd.Series) -> pd.Series:
    return pd.Series(np.where(c > 10, c / (c - c), c), index=c.index)


def _std_masked(s: pd.Series, n: int) -> np.ndarray:
    return np.isclose(_rolling(s, n).std(), 0, atol=2e-05)


#: expression → reference on (close, volume) series of one instrument, per Qlib's ops.py
REFERENCES = {
    "Mean($close, 5)": lambda c, v: _rolling(c, 5).mean(),
    "Sum($volume, 7)": lambda c, v: _rolling(v, 7).sum(),
    "Std($close, 5)": lambda c, v: _rolling(c, 5).std(),
    "Var($close, 10)": lambda c, v: _rolling(c, 10).var(),
    "Skew($close, 10)": lambda c, v: _rolling(c, 10).skew(),
    "Kurt($close, 10)": lambda c, v: _rolling(c, 10).kurt(),
    "Max($close, 5)": lambda c, v: _rolling(c, 5).max(),
    "Min($close, 20)": lambda c, v: _rolling(c, 20).min(),
    "Med($close, 6)": lambda c, v: _rolling(c, 6).median(),
    "Count($close, 5)": lambda c, v: _rolling(c, 5).count(),
    "Quantile($close, 10, 0.8)": lambda c, v: _rolling(c, 10).quantile(0.8),
    "Quantile($close, 10, 0.2)": lambda c, v: _rolling(c, 10).quantile(0.2),
    "Quantile($close, 7, 0.5)": lambda c, v: _rolling(c, 7).quantile(0.5),
    "Rank($close, 10)": lambda c, v: _rolling(c, 10).rank(pct=True),
    "IdxMax($close, 8)": lambda c, v: _rolling(c, 8).apply(lambda x: x.argmax() + 1, raw=True),
    "IdxMin($close, 5)": lambda c, v: _rolling(c, 5).apply(lambda x: x.argmin() + 1, raw=True),
    # ±inf in the input: the (flag, value) path of the sparse table
    "IdxMax(If($close > 10, $close / ($close - $close), $close), 6)": lambda c, v: _rolling(
        pd.Series(np.where(c > 10, c / (c - c), c), index=c.index), 6).apply(lambda x: x.argmax() + 1, raw=True),
    "IdxMin(If($close > 10, $close / ($close - $close), 0 - $close), 4)": lambda c, v: _rolling(
        pd.Series(np.where(c > 10, c / (c - c), 0 - c), index=c.index), 4).apply(lambda x: x.argmin() + 1, raw=True),
    # pandas windows see ±inf as NaN; Count (counted before that) and Qlib's Cython regression see them
    "Mean(If($close > 10, $close / ($close - $close), $close), 3)": lambda c, v: _rolling(_inf_above_10(c), 3).mean(),
    "Count(If($close > 10, $close / ($close - $close), $close), 4)": lambda c, v: _rolling(_inf_above_10(c), 4).count(),
    "Slope(If($close > 10, $close / ($close - $close), $close), 5)": lambda c, v: pd.Series(
        _qlib_regression(_inf_above_10(c).values, 5, "slope"), index=c.index),
    "Corr(If($close > 10, $close / ($close - $close), $close), $volume, 5)": lambda c, v: _rolling(
        _inf_above_10(c), 5).corr(v).mask(_std_masked(_inf_above_10(c), 5) | _std_masked(v, 5)),
    "Mad($close, 6)": lambda c, v: _rolling(c, 6).apply(_mad, raw=True),
    "WMA($close, 6)": lambda c, v: _rolling(c, 6).apply(_wma, raw=True),
    "EMA($close, 10)": lambda c, v: c.ewm(span=10, min_periods=1).mean(),
    "EMA($close, 0.25)": lambda c, v: c.ewm(alpha=0.25, min_periods=1).mean(),
    "Ref($close, 3)": lambda c, v: c.shift(3),
    "Ref($close, -2)": lambda c, v: c.shift(-2),
    "Ref($close, 0)": lambda c, v: pd.Series(c.iloc[0], index=c.index),
    "Delta($close, 2)": lambda c, v: c - c.shift(2),
    "Slope($close, 5)": lambda c, v: pd.Series(_qlib_regression(c.values, 5, "slope"), index=c.index),
    "Resi($close, 10)": lambda c, v: pd.Series(_qlib_regression(c.values, 10, "resi"), index=c.index),
    "Rsquare($close, 5)": lambda c, v: pd.Series(
        np.where(_std_masked(c, 5), np.nan, _qlib_regression(c.values, 5, "rsquare")), index=c.index),
    "Corr($close, $volume, 6)": lambda c, v: _rolling(c, 6).corr(v).mask(_std_masked(c, 6) | _std_masked(v, 6)),
    "Cov($close, $volume, 6)": lambda c, v: _rolling(c, 6).cov(v),
    "Mean($close, 0)": lambda c, v: c.expanding(min_periods=1).mean(),
    "Abs($close - Ref($close, 1))": lambda c, v: np.abs(c - c.shift(1)),
    "Sign($close - Ref($close, 1))": lambda c, v: np.sign((c - c.shift(1)).astype(np.float32)),
    "Log($volume + 1)": lambda c, v: np.log(v + 1),
    "Power($close, 2)": lambda c, v: np.power(c, 2),
    "Greater($close, Ref($close, 1))": lambda c, v: np.maximum(c, c.shift(1)),
    "Less($close, 10)": lambda c, v: np.minimum(c, 10),
    "$close > Ref($close, 1)": lambda c, v: np.greater(c, c.shift(1)),
    "Mean($close > Ref($close, 1), 5)": lambda c, v: _rolling(np.greater(c, c.shift(1)), 5).mean(),
    "Ref($close > 10, 2)": lambda c, v: np.greater(c, 10).shift(2),
    "If($close > 10, $close, $volume)": lambda c, v: pd.Series(np.where(c > 10, c, v), index=c.index),
    "Not($close > 10) | ($volume > 2e6)": lambda c, v: np.bitwise_or(np.bitwise_not(c > 10), v > 2e6),
    "($close > 10) & ($volume > 2e6)": lambda c, v: np.bitwise_and(c > 10, v > 2e6),
    "$close / ($close - $close)": lambda c, v: np.divide(c, c - c),
    # window 1 (every window starts afresh), windows longer than the data, repeated values in a sum
    "Mean($close, 1)": lambda c, v: _rolling(c, 1).mean(),
    "Std($close, 1)": lambda c, v: _rolling(c, 1).std(),
    "Max($volume, 1)": lambda c, v: _rolling(v, 1).max(),
    "Var($volume, 120)": lambda c, v: _rolling(v, 120).var(),
    "Sum($close, 5)": lambda c, v: _rolling(c, 5).sum(),
    "Rank($close, 5)": lambda c, v: _rolling(c, 5).rank(pct=True),  # alone: not sharing Quantile's buffer
    "Quantile($volume, 120, 0.3)": lambda c, v: _rolling(v, 120).quantile(0.3),
    "IdxMin($volume, 120)": lambda c, v: _rolling(v, 120).apply(lambda x: x.argmin() + 1, raw=True),
    # float arithmetic runs in numba: float32 ∘ float32 stays float32, float64 ∘ float32 is float64
    "$close / $volume": lambda c, v: np.divide(c, v),
    "Mean($close, 5) / $close": lambda c, v: _rolling(c, 5).mean() / c,
    "$close - Mean($volume, 3)": lambda c, v: c - _rolling(v, 3).mean(),
    "$close * $volume + $close": lambda c, v: c * v + c,
    "Std(Abs($close/Ref($close, 1)-1)*$volume, 5)/(Mean(Abs($close/Ref($close, 1)-1)*$volume, 5)+1e-12)":
        lambda c, v: _rolling(np.abs(c / c.shift(1) - 1) * v, 5).std()
        / (_rolling(np.abs(c / c.shift(1) - 1) * v, 5).mean() + 1e-12),
}


@pytest.fixture(scope="module")
def computed(panel):
    return compute(panel, {text: text for text in REFERENCES})


@pytest.mark.parametrize("text", list(REFERENCES))
def test_operator_matches_qlib_definition_bit_for_bit(panel, computed, text):
    ours = computed[text]
    assert ours.dtype == np.float32 and ours.shape == (T, N)
    expected = np.full((T, N), np.nan, dtype=np.float32)
    for col in range(N):
        ref = REFERENCES[text](series_of(panel, "close", col), series_of(panel, "volume", col))
        expected[ref.index.to_numpy(), col] = np.asarray(ref, dtype=np.float64).astype(np.float32)
    np.testing.assert_array_equal(ours, expected, err_msg=text)


def test_values_outside_the_listing_are_nan(panel, computed):
    for arr in computed.values():
        assert np.isnan(arr[~panel.listed]).all()


def test_comparisons_never_nan_on_suspended_days(panel, computed):
    cnt = computed["Mean($close > Ref($close, 1), 5)"]
    assert not np.isnan(cnt[panel.listed]).any()


def test_std_is_exactly_zero_on_a_flat_window(computed):
    assert (computed["Std($close, 5)"][15:26, 4] == 0).all()
    assert np.isnan(computed["Rsquare($close, 5)"][15:26, 4]).all()


def test_idxmax_ties_go_to_the_oldest_and_nan_wins(panel):
    close = np.array([[1, 3, 3, 2, np.nan, 1, 1]], dtype=np.float32).T
    small = Panel(panel.dates[:7], panel.instruments[:1], {"close": close}, np.ones((7, 1), bool))
    got = compute(small, {"i": "IdxMax($close, 3)"})["i"][:, 0]
    # windows: [1] [1,3] [1,3,3] [3,3,2] [3,2,nan] [2,nan,1] [nan,1,1]
    np.testing.assert_array_equal(got, [1, 2, 2, 1, 3, 2, 1])

"""Small hand-built bars shared by the data-I/O tests: a few instruments with late listings, a delisting,
suspended days (listed rows with NaN prices) and factor steps, so adjustment and listing edge cases show up."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aistock_core.calendar import xshg_calendar

CODES = ("000001.SZ", "300750.SZ", "600000.SH", "688001.SH")


def make_bars(n_days: int = 60, seed: int = 3) -> pd.DataFrame:
    """Raw bars (native adjust None) with ``factor``; long (datetime, instrument) frame, sorted."""
    rng = np.random.default_rng(seed)
    days = xshg_calendar().sessions_in_range("2023-01-03")[:n_days]
    t, n = len(days), len(CODES)
    close = 10 * np.exp(np.cumsum(rng.normal(0, 0.02, (t, n)), axis=0))
    open_ = close * np.exp(rng.normal(0, 0.01, (t, n)))
    high = np.maximum(open_, close) * 1.01
    low = np.minimum(open_, close) * 0.99
    volume = rng.integers(1_000, 100_000, (t, n)).astype(float) * 100
    vwap = (high + low + close) / 3
    factor = np.ones((t, n))
    factor[30:, 2] = 1.2  # 600000.SH: a dividend/split step
    factor[40:, 0] = 1.5  # 000001.SZ
    values = {"open": open_, "high": high, "low": low, "close": close, "volume": volume,
              "amount": volume * vwap, "vwap": vwap, "factor": factor}
    prev = np.vstack([np.full((1, n), np.nan), close[:-1]])
    values["change"] = close / prev - 1
    listed = np.ones((t, n), dtype=bool)
    listed[:10, 0] = False  # 000001.SZ lists on day 10
    listed[46:, 1] = False  # 300750.SZ delists after day 45
    suspended = np.zeros((t, n), dtype=bool)
    suspended[20:23, 3] = True  # 688001.SH suspended: rows kept, prices NaN
    for name in ("open", "high", "low", "close", "volume", "amount", "vwap", "change"):
        values[name][suspended] = np.nan
    ti, ii = np.nonzero(listed)
    index = pd.MultiIndex.from_arrays([days[ti], np.array(CODES)[ii]], names=["datetime", "instrument"])
    return pd.DataFrame({k: v[ti, ii] for k, v in values.items()}, index=index)


@pytest.fixture
def bars_frame() -> pd.DataFrame:
    return make_bars()


@pytest.fixture
def frame_service(bars_frame):
    from aistock_core.data.service import DataService
    from aistock_core.data.tabular import FrameProvider

    return DataService(FrameProvider(bars_frame, name="test-bars"))

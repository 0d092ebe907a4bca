"""`aistock_core.data.bars`: one day's stored bars (raw prices + factor, derived change/limits/suspended)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aistock_core.data.bars import bars_summary, day_bars, index_day_bars, instrument_table
from aistock_core.data.service import DataService
from aistock_core.data.tabular import FrameProvider
from aistock_core.errors import CalendarError, DataError

D1, D2 = pd.Timestamp("2024-01-02"), pd.Timestamp("2024-01-03")
NAN = np.nan


def _frame() -> pd.DataFrame:
    """Four stocks and one index over two sessions, each exercising one rule on D2."""
    rows = [
        # day, code, close, factor
        (D1, "600000.SH", 10.00, 2.0),
        (D2, "600000.SH", 11.00, 2.0),   # main board +10%: at limit up 11.00
        (D1, "300750.SZ", 20.00, 1.0),
        (D2, "300750.SZ", 16.00, 1.0),   # ChiNext −20%: at limit down 16.00
        (D1, "000001.SZ", 12.34, 1.0),
        (D2, "000001.SZ", NAN, 1.0),     # suspended: listed, NaN prices
        (D2, "688001.SH", 50.00, 1.0),   # lists on D2: no previous close, no limit
        (D1, "000300.SH", 3500.0, 1.0),
        (D2, "000300.SH", 3535.0, 1.0),
    ]
    day, code, close, factor = zip(*rows, strict=True)
    close = np.array(close)
    frame = pd.DataFrame({
        "open": close, "high": close, "low": close, "close": close,
        "volume": np.where(np.isnan(close), NAN, 1000.0), "amount": close * 1000.0, "vwap": close,
        "factor": factor,
    }, index=pd.MultiIndex.from_arrays([pd.DatetimeIndex(day), list(code)], names=["datetime", "instrument"]))
    return frame.sort_index()


@pytest.fixture
def service() -> DataService:
    return DataService(FrameProvider(_frame(), name="hand-built"))


def test_day_bars_derives_change_limits_and_suspension(service):
    bars = day_bars(service, D2)
    assert list(bars.index.names) == ["datetime", "instrument"] and bars.index.is_monotonic_increasing
    assert "000300.SH" not in bars.index.get_level_values("instrument"), "indexes are not stock bars"
    row = bars.xs(D2, level="datetime")
    assert row.loc["600000.SH", "close"] == 11.00, "raw price stored, not price × factor"
    assert row.loc["600000.SH", "factor"] == 2.0
    assert row.loc["600000.SH", "change"] == pytest.approx(0.10)
    assert row.loc["600000.SH", ["limit_up", "limit_down"]].tolist() == pytest.approx([11.00, 9.00])
    assert row.loc["300750.SZ", ["limit_up", "limit_down"]].tolist() == pytest.approx([24.00, 16.00])
    assert bool(row.loc["000001.SZ", "suspended"]) and np.isnan(row.loc["000001.SZ", "close"])
    assert row.loc["000001.SZ", "limit_up"] == pytest.approx(13.57)  # 12.34 × 1.1 rounded to the tick
    assert np.isnan(row.loc["688001.SH", "limit_up"]) and np.isnan(row.loc["688001.SH", "change"])
    assert not row["suspended"].drop("000001.SZ").any()


def test_summary_counts_limits_and_suspended(service):
    summary = bars_summary(day_bars(service, D2))
    assert summary == {"rows": 4, "instruments": 4, "suspended": 1, "limit_up": 1, "limit_down": 1}


def test_index_day_bars_have_no_limits(service):
    bars = index_day_bars(service, D2, indexes=["000300.SH"])
    assert bars.index.get_level_values("instrument").tolist() == ["000300.SH"]
    assert "limit_up" not in bars.columns
    assert bars["change"].iloc[0] == pytest.approx(0.01)


def test_first_day_of_data_has_no_previous_close(service):
    bars = day_bars(service, D1)
    assert bars["change"].isna().all() and bars["limit_up"].isna().all()


def test_refuses_holidays_and_days_outside_the_data(service):
    with pytest.raises(CalendarError, match="not a trading day"):
        day_bars(service, "2024-01-01")
    with pytest.raises(DataError, match="outside the data"):
        day_bars(service, "2024-01-04")


def test_instrument_table_marks_delisted_and_boards():
    frame = _frame().drop(index=(D2, "000001.SZ"))  # its last row is D1 now: delisted before the data ends
    table = instrument_table(DataService(FrameProvider(frame, name="x"))).set_index("code")
    assert table.loc["000001.SZ", "delist_date"] == D1.date()
    assert table.loc["600000.SH", "delist_date"] is None
    assert table.loc["688001.SH", "list_date"] == D2.date()
    assert table.loc["688001.SH", "board"] == "star" and table.loc["000300.SH", "board"] == "index"

"""DataService over a small raw provider: adjustment views, windows, universes, snapshots."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aistock_core.errors import DataError

FIELDS = ["open", "high", "low", "close", "volume", "amount", "factor"]


def test_qlib_view_is_raw_times_factor(frame_service, bars_frame):
    got = frame_service.get_history_window("all", fields=FIELDS, adjust="qlib")
    for price in ("open", "high", "low", "close"):
        np.testing.assert_allclose(got[price], bars_frame[price] * bars_frame["factor"], rtol=1e-12)
    np.testing.assert_allclose(got["volume"], bars_frame["volume"] / bars_frame["factor"], rtol=1e-12)
    np.testing.assert_array_equal(got["amount"], bars_frame["amount"])
    np.testing.assert_array_equal(got["factor"], bars_frame["factor"])


def test_qfq_view_anchors_on_each_instruments_last_day_in_the_window(frame_service, bars_frame):
    end = "2023-03-20"  # after 600000.SH's factor step, 300750.SZ already delisted
    got = frame_service.get_history_window("all", end=end, fields=FIELDS, adjust="qfq")
    raw = bars_frame.loc[:end]
    last = got.groupby(level="instrument").tail(1).index
    np.testing.assert_allclose(got.loc[last, "close"], raw.loc[last, "close"], rtol=1e-12)
    np.testing.assert_allclose(got.loc[last, "factor"], 1.0)
    pre_step = got.xs("600000.SH", level="instrument").loc[:"2023-02-14"]
    raw_pre = raw.xs("600000.SH", level="instrument").loc[:"2023-02-14"]
    np.testing.assert_allclose(pre_step["close"], raw_pre["close"] / 1.2, rtol=1e-12)
    np.testing.assert_allclose(pre_step["volume"], raw_pre["volume"] * 1.2, rtol=1e-12)
    np.testing.assert_array_equal(got["amount"], raw["amount"])
    # An earlier window has another anchor: before the step, qfq equals raw.
    early = frame_service.get_history_window(["600000.SH"], end="2023-02-10", fields=["close"], adjust="qfq")
    np.testing.assert_allclose(early["close"], raw_pre.loc[:"2023-02-10", "close"], rtol=1e-12)


def test_raw_view_is_untouched(frame_service, bars_frame):
    got = frame_service.get_history_window("all", fields=FIELDS, adjust=None)
    pd.testing.assert_frame_equal(got, bars_frame[FIELDS])


def test_bars_walk_back_from_end(frame_service):
    got = frame_service.get_history_window(["600000.SH", "sz000001"], end="2023-01-20", bars=5, fields=["close"])
    days = got.index.get_level_values("datetime").unique()
    assert len(days) == 5 and days[-1] == pd.Timestamp("2023-01-20")
    assert days[0] == pd.Timestamp("2023-01-16")
    # 000001.SZ lists on 2023-01-17: only its listed rows appear
    assert (got.xs("000001.SZ", level="instrument").index >= pd.Timestamp("2023-01-17")).all()
    # a non-session end walks back from the last session before it
    sunday = frame_service.get_history_window(["600000.SH"], end="2023-01-22", bars=1, fields=["close"])
    assert sunday.index[0][0] == pd.Timestamp("2023-01-20")


def test_index_sorted_unique_whatever_the_request_order(frame_service):
    got = frame_service.get_history_window(["688001.SH", "600000.SH", "000001.SZ", "600000.SH"], fields=["close"])
    assert got.index.is_monotonic_increasing and got.index.is_unique
    assert list(got.index.names) == ["datetime", "instrument"]
    assert got.index.get_level_values("instrument").unique().sort_values().tolist() == [
        "000001.SZ", "600000.SH", "688001.SH"]


def test_bad_requests(frame_service):
    with pytest.raises(DataError, match=r"unknown instrument\(s\) 601318\.SH"):
        frame_service.get_history_window(["600000.SH", "601318.SH"])
    with pytest.raises(DataError, match=r"end 2023-06-01 is after the data.*ends on 2023-04-03"):
        frame_service.get_history_window("all", end="2023-06-01")
    with pytest.raises(DataError, match="no trading day in the requested window"):
        frame_service.get_history_window("all", start="2023-01-21", end="2023-01-22")  # a weekend
    with pytest.raises(DataError, match="no data between"):
        frame_service.get_history_window("all", start="2023-03-01", end="2023-02-01")
    with pytest.raises(DataError, match=r"field\(s\) \['pe'\] not available"):
        frame_service.get_history_window("all", fields=["close", "pe"])
    with pytest.raises(DataError, match="unknown adjust 'hfq'"):
        frame_service.get_history_window("all", adjust="hfq")
    with pytest.raises(DataError, match="either start or bars"):
        frame_service.get_history_window("all", start="2023-01-05", bars=3)


def test_snapshot_without_quote_source_uses_last_daily_bar(frame_service, bars_frame):
    snap = frame_service.get_realtime_snapshot(["600000.SH", "000001.SZ"], at="2023-02-11 10:00")  # a Saturday
    assert list(snap.index) == ["000001.SZ", "600000.SH"]
    assert (snap["datetime"] == pd.Timestamp("2023-02-10 15:00")).all()
    day = bars_frame.xs(pd.Timestamp("2023-02-10"), level="datetime")
    prev = bars_frame.xs(pd.Timestamp("2023-02-09"), level="datetime")
    np.testing.assert_array_equal(snap["close"], day.loc[snap.index, "close"])
    np.testing.assert_array_equal(snap["prev_close"], prev.loc[snap.index, "close"])

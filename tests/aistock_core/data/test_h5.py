"""daily_pv.h5 (rdagent.md §8): what we write is what RD-Agent's factor code reads, and we read theirs back."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aistock_core.data.h5 import DAILY_PV_FIELDS, DailyPVProvider, write_daily_pv
from aistock_core.data.service import DataService
from aistock_core.errors import DataError, SchemaError


def test_written_file_has_the_contract_shape(frame_service, tmp_path):
    path = write_daily_pv(frame_service, "all", tmp_path / "daily_pv.h5", start="2023-01-10")
    df = pd.read_hdf(path, key="data")
    assert list(df.columns) == list(DAILY_PV_FIELDS)
    assert list(df.index.names) == ["datetime", "instrument"]
    assert df.index.is_monotonic_increasing and df.index.is_unique
    assert (df.dtypes == np.float32).all()
    assert df.index.get_level_values("datetime").min() == pd.Timestamp("2023-01-10")
    assert set(df.index.get_level_values("instrument")) == {"000001.SZ", "300750.SZ", "600000.SH", "688001.SH"}
    with pd.HDFStore(path, "r") as store:
        assert store.get_storer("data").format_type == "fixed"
    # qfq: each instrument's factor is 1 on its last row, so its last close is the raw close.
    last = df.groupby(level="instrument").tail(1)
    np.testing.assert_allclose(last["factor"], 1.0)
    raw = frame_service.get_history_window("all", start="2023-01-10", fields=["close", "volume", "amount"],
                                           adjust=None)
    np.testing.assert_allclose(last["close"], raw.loc[last.index, "close"], rtol=1e-6)
    # volume is divided by the (qfq) factor, amount untouched
    np.testing.assert_allclose(df["volume"] * df["factor"], raw["volume"], rtol=1e-5)
    np.testing.assert_allclose(df["amount"], raw["amount"], rtol=1e-6)
    assert (df["factor"] < 1).any()
    assert not list(tmp_path.glob(".*tmp*"))


def test_round_trip_through_provider(frame_service, tmp_path):
    path = write_daily_pv(frame_service, ["600000.SH", "000001.SZ"], tmp_path / "pv.h5")
    back = DataService(DailyPVProvider(path))
    for adjust in ("qfq", "qlib", None):
        want = frame_service.get_history_window(["600000.SH", "000001.SZ"], fields=["open", "close", "volume"],
                                                adjust=adjust)
        got = back.get_history_window("all", fields=["open", "close", "volume"], adjust=adjust)
        if adjust == "qlib":  # the file's factor is normalised, so its qlib view is the qfq one
            want = frame_service.get_history_window(["600000.SH", "000001.SZ"], fields=["open", "close", "volume"],
                                                    adjust="qfq")
        pd.testing.assert_frame_equal(got, want, check_dtype=False, rtol=1e-5)
    spans = back.provider.instrument_spans()
    assert spans.set_index("instrument").loc["000001.SZ", "start"] == pd.Timestamp("2023-01-17")


def test_sub_window_qfq_is_reanchored(frame_service, tmp_path):
    """A qfq window ending before the file's anchor day is re-anchored to its own last day."""
    path = write_daily_pv(frame_service, ["600000.SH"], tmp_path / "pv.h5")
    back = DataService(DailyPVProvider(path))
    got = back.get_history_window("all", end="2023-02-10", fields=["close"], adjust="qfq")  # before the step
    raw = frame_service.get_history_window(["600000.SH"], end="2023-02-10", fields=["close"], adjust=None)
    pd.testing.assert_frame_equal(got, raw, check_dtype=False, rtol=1e-6)


def test_dollar_columns_and_swapped_index_are_normalised(bars_frame, tmp_path):
    df = bars_frame[["open", "high", "low", "close", "volume", "factor"]].astype(np.float32)
    df.columns = [f"${c}" for c in df.columns]
    df = df.swaplevel().sort_index()
    df.index = df.index.set_levels([c.replace(".", "")[-2:] + c[:6] for c in df.index.levels[0]], level=0)
    path = tmp_path / "legacy.h5"
    df.to_hdf(path, key="data", format="fixed")
    provider = DailyPVProvider(path)
    assert set(provider.fields()) == {"open", "high", "low", "close", "volume", "factor"}
    assert provider.instruments() == ["000001.SZ", "300750.SZ", "600000.SH", "688001.SH"]
    assert provider.native_adjust == "qfq"
    panel = provider.load(provider.instruments(), provider.calendar.sessions_in_range(*provider.data_range()),
                          ["close", "factor"])
    assert panel["close"].dtype == np.float32 and panel["factor"].dtype == np.float32


def test_missing_required_columns(bars_frame, tmp_path):
    path = tmp_path / "bad.h5"
    bars_frame[["open", "close", "factor"]].to_hdf(path, key="data", format="fixed")
    with pytest.raises(DataError, match=r"bad\.h5 lacks required column\(s\) \['high', 'low', 'volume'\]"):
        DailyPVProvider(path)


def test_missing_factor_only_serves_qfq(bars_frame, tmp_path):
    path = tmp_path / "nofactor.h5"
    bars_frame[["open", "high", "low", "close", "volume"]].to_hdf(path, key="data", format="fixed")
    svc = DataService(DailyPVProvider(path))
    assert len(svc.get_history_window("all", fields=["close"], adjust="qfq")) == len(bars_frame)
    with pytest.raises(DataError, match="no 'factor' column"):
        svc.get_history_window("all", fields=["close"], adjust=None)


def test_wrong_key_and_ohlc_violation(bars_frame, tmp_path):
    path = tmp_path / "key.h5"
    bars_frame.to_hdf(path, key="bars", format="fixed")
    with pytest.raises(DataError, match="no key 'data'"):
        DailyPVProvider(path)
    bad = bars_frame.copy()
    bad.loc[(pd.Timestamp("2023-02-01"), "600000.SH"), "high"] = 0.5
    bad.to_hdf(tmp_path / "ohlc.h5", key="data", format="fixed")
    with pytest.raises(SchemaError, match=r"600000\.SH on 2023-02-01"):
        DailyPVProvider(tmp_path / "ohlc.h5")
    with pytest.raises(DataError, match="does not exist"):
        DailyPVProvider(tmp_path / "absent.h5")
    (tmp_path / "garbage.h5").write_bytes(b"not hdf5")
    with pytest.raises(DataError, match=r"cannot read daily_pv file .*garbage\.h5 as HDF5"):
        DailyPVProvider(tmp_path / "garbage.h5")

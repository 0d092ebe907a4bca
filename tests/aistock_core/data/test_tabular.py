"""FrameProvider and its Parquet/CSV loading: any code spelling in, internal codes and a checked frame out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aistock_core.calendar import TradingCalendar
from aistock_core.data.service import DataService
from aistock_core.data.tabular import FrameProvider, normalise_bars
from aistock_core.errors import DataError, SchemaError


def _flat(bars: pd.DataFrame, spelling) -> pd.DataFrame:
    flat = bars.reset_index()
    flat["instrument"] = flat["instrument"].map(spelling)
    return flat


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_from_file_round_trip(bars_frame, tmp_path, suffix):
    flat = _flat(bars_frame, lambda c: c[7:].lower() + c[:6])  # sh600000 spelling
    path = tmp_path / f"bars{suffix}"
    flat.to_parquet(path) if suffix == ".parquet" else flat.to_csv(path, index=False)
    provider = FrameProvider.from_file(path)
    assert provider.name.endswith(str(path))
    got = DataService(provider).get_history_window("all", fields=list(bars_frame.columns), adjust=None)
    pd.testing.assert_frame_equal(got, bars_frame, check_dtype=False, rtol=1e-12)


def test_factor_defaults_to_one_and_multiindex_in_any_order(bars_frame):
    frame = bars_frame.drop(columns="factor").swaplevel()
    provider = FrameProvider(frame, name="nofactor")
    assert "factor" in provider.fields()
    got = DataService(provider).get_history_window("all", fields=["close", "factor"], adjust="qlib")
    assert (got["factor"] == 1.0).all()
    pd.testing.assert_series_equal(got["close"], bars_frame["close"], check_dtype=False)


def test_spans_listing_and_load_outside_the_data(bars_frame):
    provider = FrameProvider(bars_frame, name="bars")
    spans = provider.instrument_spans().set_index("instrument")
    assert spans.loc["000001.SZ", "start"] == pd.Timestamp("2023-01-17")
    assert spans.loc["300750.SZ", "end"] == pd.Timestamp("2023-03-14")
    assert provider.instruments(at="2023-03-20") == ["000001.SZ", "600000.SH", "688001.SH"]
    days = provider.calendar.sessions_in_range("2022-12-29", "2023-01-05")  # starts before the data
    panel = provider.load(["600000.SH", "000001.SZ"], days, ["close"])
    assert panel.listed[:, 1].sum() == 0
    np.testing.assert_array_equal(panel.listed[:, 0], days >= pd.Timestamp("2023-01-03"))
    assert np.isnan(panel["close"][~panel.listed]).all()
    with pytest.raises(DataError, match="unknown market 'csi300'"):
        provider.instrument_spans("csi300")


def test_suspended_rows_stay_listed(bars_frame):
    frame = DataService(FrameProvider(bars_frame, name="b")).get_history_window(["688001.SH"], fields=["close"])
    assert len(frame) == 60
    assert frame["close"].isna().sum() == 3


def test_bad_input(bars_frame, tmp_path):
    with pytest.raises(DataError, match="unrecognised instrument code 'XYZ'"):
        FrameProvider(_flat(bars_frame, lambda c: "XYZ" if c == "600000.SH" else c), name="codes")
    with pytest.raises(DataError, match=r"lack required column\(s\) \['volume'\]"):
        FrameProvider(bars_frame.drop(columns="volume"), name="cols")
    with pytest.raises(DataError, match="need a \\(datetime, instrument\\) index"):
        FrameProvider(bars_frame.reset_index(drop=True), name="noindex")
    dup = pd.concat([bars_frame, bars_frame.iloc[:1]]).sort_index()
    with pytest.raises(SchemaError, match="unique"):
        FrameProvider(dup, name="dups")
    weekend = bars_frame.iloc[:1].rename(index={pd.Timestamp("2023-01-03"): pd.Timestamp("2023-01-07")}, level=0)
    with pytest.raises(DataError, match=r"not sessions of calendar.*2023-01-07"):
        FrameProvider(pd.concat([bars_frame, weekend]), name="weekend")
    with pytest.raises(DataError, match="does not exist"):
        FrameProvider.from_file(tmp_path / "none.parquet")
    (tmp_path / "nodates.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="'datetime' and 'instrument' columns"):
        FrameProvider.from_file(tmp_path / "nodates.csv")
    (tmp_path / "bars.json").write_text("{}")
    with pytest.raises(DataError, match="unknown format"):
        FrameProvider.from_file(tmp_path / "bars.json")


def test_negative_volume_names_instrument_and_date(bars_frame):
    bad = bars_frame.copy()
    bad.loc[(pd.Timestamp("2023-01-05"), "300750.SZ"), "volume"] = -1
    with pytest.raises(SchemaError, match=r"'volume >= 0' at instrument 300750\.SZ on 2023-01-05"):
        FrameProvider(bad, name="neg")


def test_custom_calendar_and_tz_aware_dates(bars_frame):
    days = bars_frame.index.get_level_values("datetime").unique()
    calendar = TradingCalendar(days, name="custom")
    aware = bars_frame.copy()
    aware.index = aware.index.set_levels(aware.index.levels[0].tz_localize("Asia/Shanghai"), level=0)
    frame = normalise_bars(aware, "aware")
    assert frame.index.get_level_values("datetime").tz is None
    provider = FrameProvider(aware, name="aware", calendar=calendar)
    assert provider.calendar is calendar
    assert provider.data_range() == (days[0], days[-1])

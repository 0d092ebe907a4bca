"""xtquant tick conversion, exercised with ticks in the shape miniQMT's ``get_full_tick`` returns."""

from __future__ import annotations

import pandas as pd
import pytest

from aistock_core.config import Settings
from aistock_core.data.factory import build_service
from aistock_core.data.xtquant import XtQuantQuoteSource, ticks_to_frame
from aistock_core.errors import ConfigError, DataError


def _tick(last=10.5, open_=10.2, high=10.8, low=10.1, prev=10.0, volume=12345, amount=1.3e7):
    return {"timetag": "20261120 10:15:03", "lastPrice": last, "open": open_, "high": high, "low": low,
            "lastClose": prev, "volume": volume, "amount": amount, "stockStatus": 3, "askPrice": [10.51]}


class _FakeXtData:
    """Stands in for ``xtquant.xtdata`` on Linux: records what was asked and answers with fixed ticks."""

    def __init__(self, ticks):
        self.ticks, self.asked = ticks, []

    def get_full_tick(self, codes):
        self.asked.append(list(codes))
        return {c: self.ticks[c] for c in codes if c in self.ticks}


def test_ticks_become_quote_frame_in_shares_with_board_limits():
    ticks = {"600000.SH": _tick(), "300750.SZ": _tick(prev=200.0, last=210, open_=201, high=215, low=199)}
    frame = ticks_to_frame(ticks, ["SH600000", "300750"])
    assert list(frame.index) == ["600000.SH", "300750.SZ"]
    assert frame.at["600000.SH", "volume"] == 1234500  # lots → shares
    assert frame.at["600000.SH", "limit_up"] == 11.0 and frame.at["600000.SH", "limit_down"] == 9.0
    assert frame.at["300750.SZ", "limit_up"] == 240.0  # ChiNext 20%
    assert frame["datetime"].iloc[0] == pd.Timestamp("2026-11-20 10:15:03", tz="Asia/Shanghai")
    assert not frame["suspended"].any()


def test_untraded_stock_is_marked_suspended_without_day_prices():
    frame = ticks_to_frame({"000001.SZ": _tick(last=9.9, prev=9.9, open_=0, high=0, low=0, volume=0)}, ["000001.SZ"])
    assert frame.at["000001.SZ", "suspended"]
    assert pd.isna(frame.at["000001.SZ", "open"]) and frame.at["000001.SZ", "close"] == 9.9


@pytest.mark.parametrize(
    ("tick", "message"),
    [
        ({k: v for k, v in _tick().items() if k != "lastClose"}, "missing field"),
        (_tick(last=0), "prices must be positive"),
        (_tick(high=10.0, low=10.3), "low <= last <= high"),
        ({**_tick(), "timetag": "yesterday"}, "unparsable timetag"),
    ],
)
def test_bad_quotes_name_the_instrument(tick, message):
    with pytest.raises(DataError, match=rf"600000\.SH.*{message}|{message}.*600000\.SH|600000\.SH: {message}"):
        ticks_to_frame({"600000.SH": tick}, ["600000.SH"])


def test_missing_instrument_is_reported():
    with pytest.raises(DataError, match=r"no tick for 000002\.SZ"):
        ticks_to_frame({"600000.SH": _tick()}, ["600000.SH", "000002.SZ"])


def test_quote_source_asks_xtdata_with_internal_codes():
    fake = _FakeXtData({"600000.SH": _tick()})
    frame = XtQuantQuoteSource(xtdata=fake).snapshot(["sh600000"])
    assert fake.asked == [["600000.SH"]] and frame.at["600000.SH", "close"] == 10.5


def test_without_xtquant_installed_the_error_says_what_to_do(tmp_path):
    service = build_service(Settings(home=tmp_path, quote_source="xtquant", synthetic_instruments=20))
    code = service.instruments("all")[0]
    with pytest.raises(ConfigError, match="xtquant is not installed"):
        service.get_realtime_snapshot([code])

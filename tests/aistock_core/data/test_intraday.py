"""Minute paths and simulated snapshots of the synthetic market, and the intraday clock they use."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aistock_core.calendar import session_minutes
from aistock_core.data import intraday
from aistock_core.data.synthetic import SyntheticMarket
from aistock_core.errors import DataError

END = "2024-06-28"
DAY = pd.Timestamp("2024-06-27")
BAR = ("open", "high", "low", "close", "volume", "amount")


@pytest.fixture(scope="module")
def market() -> SyntheticMarket:
    return SyntheticMarket(seed=5, n_instruments=120, start="2023-06-01", end=END)


@pytest.fixture(scope="module")
def codes(market) -> list[str]:
    return [*market.instruments("all", at=DAY), "000300.SH", "000001.SH"]


def _bars(market, codes, day) -> dict[str, np.ndarray]:
    panel = market.load(codes, pd.DatetimeIndex([day]), [*BAR, "suspended", "limit_up", "limit_down"])
    return {f: panel[f][0] for f in panel.fields}


def test_bars_done_counts_completed_minutes():
    at = lambda s: pd.Timestamp(f"2024-06-27 {s}")  # noqa: E731
    assert intraday.bars_done(at("09:29:59")) is None
    assert intraday.bars_done(at("09:30")) == 0
    assert intraday.bars_done(at("10:15")) == 45 == intraday.bars_done(at("10:15:30"))
    assert intraday.bars_done(at("11:30")) == 120 == intraday.bars_done(at("12:59:59"))
    assert intraday.bars_done(at("13:00:59")) == 120 and intraday.bars_done(at("13:01")) == 121
    assert intraday.bars_done(at("14:59:30")) == 239 and intraday.bars_done(at("15:00")) == 240
    tz = pd.Timestamp("2024-06-27 02:15", tz="UTC")  # 10:15 in Shanghai
    assert intraday.bars_done(tz) == 45
    minutes = session_minutes(DAY)
    for done in (1, 45, 120, 121, 240):
        assert intraday.state_time(DAY, done) == minutes[done - 1]
    profile = intraday.volume_profile()
    assert profile[0] == 0 and profile[-1] == 1 and np.all(np.diff(profile) > 0)
    assert np.diff(profile)[0] > np.diff(profile)[100] < np.diff(profile)[-1], "U-shaped volume"


def test_minute_path_agrees_with_the_daily_bar(market, codes):
    path = market.minute_path(DAY, codes)
    bars = _bars(market, codes, DAY)
    assert path.shape == (240, len(codes))
    traded = ~np.isnan(bars["close"])
    assert np.isnan(path[:, ~traded]).all()
    p, b = path[:, traded], {f: v[traded] for f, v in bars.items()}
    assert np.array_equal(p.max(axis=0), b["high"]) and np.array_equal(p.min(axis=0), b["low"])
    assert np.array_equal(p[-1], b["close"])
    assert np.allclose(p * 100, np.round(p * 100), atol=1e-6), "on the tick"
    assert np.array_equal(market.minute_path(DAY, codes), path, equal_nan=True), "deterministic"
    again = SyntheticMarket(seed=5, n_instruments=120, start="2023-06-01", end=END)
    assert np.array_equal(again.minute_path(DAY, codes[3:6]), path[:, 3:6], equal_nan=True), "per instrument"


def test_one_price_bars_give_flat_paths(market):
    dates = market.calendar.sessions_in_range("2023-06-01", END)
    codes = market.instruments("all")
    panel = market.load(codes, dates, ["open", "high", "low", "close"])
    t, i = np.nonzero(panel["high"] == panel["low"])
    assert len(t) > 0
    day, code = dates[t[0]], codes[i[0]]
    path = market.minute_path(day, [code])[:, 0]
    assert (path == panel["close"][t[0], i[0]]).all()


def test_snapshot_during_the_session(market, codes):
    bars = _bars(market, codes, DAY)
    path = np.vstack([bars["open"][None, :], market.minute_path(DAY, codes)])
    snap = market.snapshot(codes, "2024-06-27 10:15")
    assert list(snap.index) == codes
    assert {"datetime", "open", "high", "low", "close", "volume", "amount", "prev_close", "limit_up",
            "limit_down"} <= set(snap.columns)
    assert (snap["datetime"] == pd.Timestamp("2024-06-27 10:15", tz="Asia/Shanghai")).all()
    traded = ~np.isnan(bars["close"])
    np.testing.assert_array_equal(snap["close"].to_numpy()[traded], path[45, traded])
    np.testing.assert_array_equal(snap["high"].to_numpy()[traded], path[:46, traded].max(axis=0))
    np.testing.assert_array_equal(snap["open"].to_numpy()[traded], bars["open"][traded])
    assert (snap["volume"].to_numpy()[traded] < bars["volume"][traded]).all()
    assert (snap["volume"].to_numpy()[traded] % 100 == 0).all()
    np.testing.assert_array_equal(snap["limit_up"].to_numpy(), bars["limit_up"])
    tz_aware = market.snapshot(codes, pd.Timestamp("2024-06-27 02:15:00", tz="UTC"))
    pd.testing.assert_frame_equal(snap, tz_aware)
    late = market.snapshot(codes, "2024-06-27 14:59:30")
    assert (late["datetime"] == pd.Timestamp("2024-06-27 14:59", tz="Asia/Shanghai")).all()
    np.testing.assert_array_equal(late["close"].to_numpy()[traded], path[239, traded])
    assert (late["volume"].to_numpy()[traded] >= snap["volume"].to_numpy()[traded]).all()


def test_lunch_break_holds_the_1130_state(market, codes):
    lunch = market.snapshot(codes, "2024-06-27 12:00")
    at_1130 = market.snapshot(codes, "2024-06-27 11:30")
    pd.testing.assert_frame_equal(lunch, at_1130)
    assert (lunch["datetime"] == pd.Timestamp("2024-06-27 11:30", tz="Asia/Shanghai")).all()


def test_after_the_close_and_before_the_open(market, codes):
    bars = _bars(market, codes, DAY)
    final = market.snapshot(codes, "2024-06-27 16:00")
    assert (final["datetime"] == pd.Timestamp("2024-06-27 15:00", tz="Asia/Shanghai")).all()
    for f in BAR:
        np.testing.assert_array_equal(final[f].to_numpy(), np.where(bars["suspended"] == 1, 0.0, bars[f])
                                      if f in ("volume", "amount") else bars[f], err_msg=f)
    next_morning = market.snapshot(codes, "2024-06-28 09:00")
    pd.testing.assert_frame_equal(next_morning, final)


def test_non_trading_day_gives_the_last_session_final_state(market, codes):
    holiday = market.snapshot(codes, "2024-06-30 10:00")  # a Sunday
    final = market.snapshot(codes, "2024-06-28 15:00:01")
    pd.testing.assert_frame_equal(holiday, final)
    dragon_boat = market.snapshot(codes, "2024-06-10 11:00")  # Dragon Boat Festival, a weekday holiday
    assert (dragon_boat["datetime"] == pd.Timestamp("2024-06-07 15:00", tz="Asia/Shanghai")).all()


def test_prev_close_and_suspended_rows(market):
    codes = market.instruments("all")
    dates = market.calendar.sessions_in_range("2023-06-01", END)
    panel = market.load(codes, dates, ["close", "suspended", "factor"])
    t, i = np.nonzero(panel["suspended"][1:] == 1)
    day, code = dates[t[0] + 1], codes[i[0]]
    snap = market.snapshot([code], day + pd.Timedelta(hours=10))
    assert bool(snap["suspended"].iloc[0]) and snap["volume"].iloc[0] == 0
    assert np.isnan(snap["close"].iloc[0]) and snap["prev_close"].iloc[0] > 0
    j = codes.index(market.instruments("all", at=dates[10])[0])
    snap = market.snapshot([codes[j]], dates[10] + pd.Timedelta(hours=10))
    if panel["factor"][10, j] == panel["factor"][9, j] and not np.isnan(panel["close"][9, j]):
        assert snap["prev_close"].iloc[0] == panel["close"][9, j]


def test_the_day_after_end_is_live_only(market, codes):
    live = market.calendar.next(END)
    snap = market.snapshot(codes[:5], live + pd.Timedelta(hours=10, minutes=30))
    assert (snap["datetime"] == pd.Timestamp(f"{live:%Y-%m-%d} 10:30", tz="Asia/Shanghai")).all()
    with pytest.raises(DataError, match="not a session"):
        market.load(codes[:5], pd.DatetimeIndex([live]), ["close"])
    with pytest.raises(DataError, match="later end"):
        market.snapshot(codes[:5], market.calendar.next(live) + pd.Timedelta(hours=10))


def test_unlisted_rows_and_bad_days(market):
    spans = market.instrument_spans("all")
    late = spans[spans["start"] > pd.Timestamp("2023-07-01")].iloc[0]
    before = market.calendar.previous(late["start"])
    snap = market.snapshot([late["instrument"]], before + pd.Timedelta(hours=10))
    assert snap[["open", "close", "volume", "prev_close"]].isna().all(axis=None)
    assert np.isnan(market.minute_path(before, [late["instrument"]])).all()
    listing_day = market.snapshot([late["instrument"]], late["start"] + pd.Timedelta(hours=16))
    assert listing_day["close"].iloc[0] > listing_day["prev_close"].iloc[0] > 0, "IPO day: prev_close = issue"
    assert np.isnan(listing_day["limit_up"].iloc[0])
    with pytest.raises(DataError, match="not a session"):
        market.minute_path("2024-06-29", [late["instrument"]])
    with pytest.raises(DataError, match="unknown instrument"):
        market.snapshot(["600999.SH"], "2024-06-27 10:00")

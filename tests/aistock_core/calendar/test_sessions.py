"""Trading calendar: XSHG holidays (2024, 2026), navigation across them, horizon, session minutes, Qlib files."""

from __future__ import annotations

import pandas as pd
import pytest

from aistock_core.calendar import (
    TradingCalendar,
    exchange_now,
    exchange_today,
    is_trading_time,
    qlib_calendar,
    session_minutes,
    xshg_calendar,
)
from aistock_core.calendar.sessions import HORIZON_WARNING_DAYS
from aistock_core.errors import CalendarError

T = pd.Timestamp


@pytest.fixture(scope="module")
def xshg() -> TradingCalendar:
    return xshg_calendar()


@pytest.fixture
def small() -> TradingCalendar:
    """Mon 2024-09-30, then National Day, then Tue 2024-10-08 .. Fri 2024-10-11."""
    return TradingCalendar(pd.to_datetime(["2024-09-30", "2024-10-08", "2024-10-09", "2024-10-10", "2024-10-11"]),
                           name="small")


# -- holidays ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("before", "closed", "after"),
    [
        # Spring Festival 2024: Fri 9 Feb .. Fri 16 Feb closed (the Sunday make-up workday does not open markets)
        ("2024-02-08", pd.bdate_range("2024-02-09", "2024-02-16"), "2024-02-19"),
        # National Day 2024: 1..7 Oct
        ("2024-09-30", pd.bdate_range("2024-10-01", "2024-10-07"), "2024-10-08"),
        # Spring Festival 2026: Mon 16 Feb .. Mon 23 Feb closed
        ("2026-02-13", pd.bdate_range("2026-02-16", "2026-02-23"), "2026-02-24"),
        # National Day 2026: Thu 1 .. Wed 7 Oct
        ("2026-09-30", pd.bdate_range("2026-10-01", "2026-10-07"), "2026-10-08"),
    ],
)
def test_known_holidays_and_navigation_across_them(xshg, before, closed, after):
    assert xshg.is_session(before)
    assert xshg.is_session(after)
    assert not any(xshg.is_session(d) for d in closed)
    assert list(xshg.closed_weekdays(closed[0], closed[-1])) == list(closed)
    for day in closed:
        assert xshg.previous(day) == T(before)
        assert xshg.next(day) == T(after)
    assert xshg.next(before) == T(after)
    assert xshg.previous(after) == T(before)
    assert xshg.offset(before, 1) == T(after)
    assert xshg.offset(after, -1) == T(before)
    assert list(xshg.sessions_in_range(before, after)) == [T(before), T(after)]


def test_weekends_are_closed_and_regular_days_open(xshg):
    assert xshg.is_session("2024-06-03")  # a Monday
    assert not xshg.is_session("2024-06-01")  # Saturday
    assert not xshg.is_session("2024-06-02")  # Sunday


def test_offset_counts_sessions(xshg):
    assert xshg.offset("2024-02-07", 2) == T("2024-02-19")
    assert xshg.offset("2024-02-20", -3) == T("2024-02-07")
    assert xshg.offset("2026-09-29", 2) == T("2026-10-08")
    assert xshg.offset("2024-06-03", 0) == T("2024-06-03")
    assert xshg.previous("2024-02-19", 3) == T("2024-02-06")
    assert xshg.next("2024-02-08", 2) == T("2024-02-20")


def test_offset_from_a_holiday_names_the_nearest_sessions(xshg):
    with pytest.raises(CalendarError, match=r"2024-10-01 \(Tuesday\) is not a trading day.*2024-09-30 before, "
                                            r"2024-10-08 after"):
        xshg.offset("2024-10-01", 1)
    with pytest.raises(CalendarError, match="not a trading day"):
        xshg.require_session("2026-02-17")
    assert xshg.require_session("2026-02-24") == T("2026-02-24")


def test_sessions_in_range(xshg):
    got = xshg.sessions_in_range("2024-02-05", "2024-02-23")
    assert [d.strftime("%m-%d") for d in got] == ["02-05", "02-06", "02-07", "02-08", "02-19", "02-20", "02-21",
                                                  "02-22", "02-23"]
    assert len(xshg.sessions_in_range("2024-10-01", "2024-10-07")) == 0
    assert len(xshg.sessions_in_range("2024-01-01", "2024-12-31")) == 242  # SSE traded 242 days in 2024
    assert got.tz is None


def test_past_the_horizon_raises_naming_the_last_session(xshg, small):
    last = f"{xshg.last:%Y-%m-%d}"
    beyond = xshg.last + pd.Timedelta(days=3)
    for call in (lambda: xshg.is_session(beyond), lambda: xshg.next(xshg.last),
                 lambda: xshg.sessions_in_range("2024-01-02", beyond), lambda: xshg.previous(beyond)):
        with pytest.raises(CalendarError, match=f"last known session {last}"):
            call()
    with pytest.raises(CalendarError, match=r"past the horizon of calendar 'small' .*2024-10-11"):
        small.is_session("2024-10-14")
    with pytest.raises(CalendarError, match=r"before the first session of calendar 'small' \(2024-09-30\)"):
        small.is_session("2024-09-27")
    with pytest.raises(CalendarError, match="no session 1 before 2024-09-30"):
        small.previous("2024-09-30")


def test_horizon_warning_threshold(small):
    last = small.last
    assert small.horizon_warning(last - pd.Timedelta(days=HORIZON_WARNING_DAYS)) is None
    warning = small.horizon_warning(last - pd.Timedelta(days=HORIZON_WARNING_DAYS - 1))
    assert warning is not None
    assert "ends on 2024-10-11, 29 days from 2024-09-12" in warning
    assert "ends on 2024-10-11, -3 days" in small.horizon_warning("2024-10-14")


def test_sessions_left(small):
    assert small.sessions_left("2024-10-01") == 4
    assert small.sessions_left("2024-10-08") == 3
    assert small.sessions_left("2024-10-11") == 0


def test_last_session_before(small):
    assert small.last_session_before("2024-10-08") == T("2024-09-30")  # the day after a holiday
    assert small.last_session_before("2024-10-03") == T("2024-09-30")  # a holiday itself
    assert small.last_session_before("2024-10-11") == T("2024-10-10")
    assert small.last_session_before("2024-12-31") == T("2024-10-11")  # past the horizon: the last known session


@pytest.mark.clock
def test_exchange_today_is_a_naive_shanghai_date(monkeypatch):
    from aistock_core.config import get_settings

    monkeypatch.delenv("AISTOCK_NOW")  # the machine's clock, read in Shanghai time
    get_settings.cache_clear()

    def shanghai_date():
        return pd.Timestamp.now(tz="Asia/Shanghai").tz_localize(None).normalize()

    before, today, after = shanghai_date(), exchange_today(), shanghai_date()
    assert today.tzinfo is None and today in (before, after)  # either side of a midnight that falls in between


@pytest.mark.clock
@pytest.mark.parametrize(("pinned", "now"), [
    ("2026-12-31", "2026-12-31 00:00"),
    ("2027-03-01 10:15", "2027-03-01 10:15"),
    ("2026-12-31T17:00:00+00:00", "2027-01-01 01:00"),  # an explicit zone is converted to Shanghai time
])
def test_the_pinned_clock_moves_now_and_today(set_now, pinned, now):
    set_now(pinned)
    assert exchange_now() == pd.Timestamp(now, tz="Asia/Shanghai")
    assert exchange_today() == pd.Timestamp(now).normalize()


def test_a_malformed_pinned_clock_names_the_variable(set_now):
    from aistock_core.config import get_settings
    from aistock_core.errors import ConfigError

    set_now("next tuesday")
    with pytest.raises(ConfigError, match="AISTOCK_NOW='next tuesday'"):
        get_settings()


def test_naive_and_tz_aware_input_mean_the_same_shanghai_day(xshg):
    # 20:00 UTC on 7 Oct is 04:00 on 8 Oct in Shanghai: a session, though 7 Oct is a holiday.
    assert xshg.is_session(T("2024-10-07 20:00", tz="UTC"))
    assert not xshg.is_session(T("2024-10-07 20:00"))
    assert xshg.next(T("2024-09-30 18:00", tz="UTC")) == T("2024-10-08")


# -- intraday ------------------------------------------------------------------------------------------------
def test_session_minutes():
    minutes = session_minutes("2024-06-03")
    assert len(minutes) == 240
    assert str(minutes.tz) == "Asia/Shanghai"
    assert minutes[0] == T("2024-06-03 09:31", tz="Asia/Shanghai")
    assert minutes[119] == T("2024-06-03 11:30", tz="Asia/Shanghai")
    assert minutes[120] == T("2024-06-03 13:01", tz="Asia/Shanghai")
    assert minutes[-1] == T("2024-06-03 15:00", tz="Asia/Shanghai")
    assert (minutes.to_series().diff().dropna() == pd.Timedelta(minutes=1)).sum() == 238


@pytest.mark.parametrize(
    ("moment", "trading"),
    [
        ("2024-06-03 09:29", False),
        ("2024-06-03 09:30", True),
        ("2024-06-03 10:15", True),
        ("2024-06-03 11:30", True),
        ("2024-06-03 11:31", False),
        ("2024-06-03 12:30", False),
        ("2024-06-03 13:00", True),
        ("2024-06-03 15:00", True),
        ("2024-06-03 15:01", False),
        ("2024-10-01 10:00", False),  # National Day
        ("2024-06-01 10:00", False),  # Saturday
    ],
)
def test_is_trading_time_naive_is_shanghai(xshg, moment, trading):
    assert is_trading_time(moment, xshg) is trading


def test_is_trading_time_tz_aware(xshg):
    assert is_trading_time(T("2024-06-03 01:30", tz="UTC"), xshg)  # 09:30 Shanghai
    assert not is_trading_time(T("2024-06-03 01:29", tz="UTC"), xshg)
    assert is_trading_time(T("2024-06-03 05:30", tz="UTC"), xshg)  # 13:30
    assert not is_trading_time(T("2024-06-03 09:30", tz="UTC"), xshg)  # 17:30 Shanghai
    assert is_trading_time(T("2024-06-03 10:00", tz="Asia/Shanghai"))  # default calendar: XSHG


# -- Qlib calendar files -------------------------------------------------------------------------------------
def _write(tmp_path, text: str):
    (tmp_path / "calendars").mkdir()
    (tmp_path / "calendars" / "day.txt").write_text(text)
    return tmp_path


def test_qlib_calendar_from_a_file(tmp_path):
    cal = qlib_calendar(_write(tmp_path, "2024-09-30\n2024-10-08 \n\n2024-10-09\n"))
    assert list(cal.sessions) == [T("2024-09-30"), T("2024-10-08"), T("2024-10-09")]
    assert cal.name == f"qlib:{tmp_path}"
    assert cal.next("2024-10-01") == T("2024-10-08")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2024-10-08\n2024-09-30\n", "not strictly increasing"),
        ("2024-09-30\n2024-09-30\n", "not strictly increasing"),
        ("2024-09-30\nnot-a-date\n", "cannot parse Qlib calendar"),
        ("", "cannot parse Qlib calendar"),
    ],
)
def test_qlib_calendar_bad_files(tmp_path, text, message):
    with pytest.raises(CalendarError, match=message):
        qlib_calendar(_write(tmp_path, text))


def test_qlib_calendar_missing_file(tmp_path):
    with pytest.raises(CalendarError, match=r"Qlib calendar file not found: .*calendars/day\.txt"):
        qlib_calendar(tmp_path)


def test_empty_calendar_is_an_error():
    with pytest.raises(CalendarError, match="has no sessions"):
        TradingCalendar(pd.DatetimeIndex([]), name="empty")

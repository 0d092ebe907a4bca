"""The XSHG calendar past exchange_calendars' horizon: the holiday file, provisional days, and their flags."""

from __future__ import annotations

import os
import time
from pathlib import Path

import exchange_calendars as xcals
import pandas as pd
import pytest

from aistock_core.calendar import xshg_calendar
from aistock_core.calendar.holidays import Closure, HolidayFile, add_closures, load_holidays, save_holidays
from aistock_core.calendar.provisional import estimated_closures
from aistock_core.calendar.xshg import _build, horizon_warning
from aistock_core.config import get_settings
from aistock_core.errors import CalendarError

T = pd.Timestamp
HOLIDAYS_2027 = """\
version: 1
years:
  2027:
    notice: test notice
    closed:
      - {start: 2027-01-01, note: New Year}
      - {start: 2027-02-08, end: 2027-02-12, note: Spring Festival}
"""


@pytest.fixture
def holidays(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "xshg_holidays.yaml"
    monkeypatch.setenv("AISTOCK_CALENDAR_HOLIDAYS", str(path))
    get_settings.cache_clear()
    return path


def test_the_package_alone_ends_at_its_horizon_and_names_both_fixes(holidays):
    cal = xshg_calendar()
    assert cal.last == T("2026-12-31") == cal.authoritative_until == cal.horizon
    assert cal.provisional_sessions.empty
    with pytest.raises(CalendarError) as err:
        cal.next("2026-12-31")
    message = str(err.value)
    assert "past the horizon" in message
    assert "aistock calendar holidays add" in message and str(holidays) in message
    assert "AISTOCK_CALENDAR_PROVISIONAL=weekdays" in message


def test_a_listed_year_is_authoritative_weekdays_minus_closures(holidays):
    holidays.write_text(HOLIDAYS_2027)
    cal = xshg_calendar()
    assert cal.authoritative_until == T("2027-12-31") and cal.provisional_sessions.empty
    assert cal.next("2026-12-31") == T("2027-01-04")  # Fri 1 Jan closed, then the weekend
    jan_feb = cal.sessions_in_range("2027-01-01", "2027-02-28")
    # By hand: January 2027 has 21 weekdays (the 1st is a Friday) less New Year; February 20 less five.
    assert len(jan_feb) == 20 + 15
    assert T("2027-02-05") in jan_feb and T("2027-02-15") in jan_feb and T("2027-02-10") not in jan_feb
    assert not cal.is_session("2027-02-10") and cal.is_session("2027-12-31")
    assert cal.sessions_in_range("2020-01-02", "2026-12-31").equals(
        pd.DatetimeIndex(xcals.get_calendar("XSHG", start="2020-01-02").sessions)), "the package's years unchanged"
    with pytest.raises(CalendarError, match="past the horizon"):
        cal.is_session("2028-01-03")


def test_a_year_without_weekday_closures(holidays):
    save_holidays(holidays, add_closures(HolidayFile(), [], empty_year=2027))
    cal = xshg_calendar()
    assert cal.authoritative_until == T("2027-12-31")
    assert len(cal.sessions_in_range("2027-01-01", "2027-12-31")) == len(pd.bdate_range("2027-01-01", "2027-12-31"))


def test_editing_the_file_changes_the_calendar_without_a_restart(holidays):
    assert xshg_calendar().authoritative_until == T("2026-12-31")
    holidays.write_text(HOLIDAYS_2027)
    assert xshg_calendar().is_session("2027-01-04")
    time.sleep(0.01)
    save_holidays(holidays, add_closures(load_holidays(holidays), [Closure(start=T("2027-01-04").date())]))
    os.utime(holidays, ns=(time.time_ns(), time.time_ns()))
    assert not xshg_calendar().is_session("2027-01-04")


@pytest.mark.parametrize(("text", "message"), [
    ("years: {2027: {closed: [{start: 2027-01-02}]}}", "2027-01-02 is a Saturday"),
    ("years: {2027: {closed: [{start: 2027-03-01}, {start: 2027-02-01}]}}", "out of order or overlaps"),
    ("years: {2027: {closed: [{start: 2028-01-03}]}}", "not inside 2027"),
    ("years: {2028: {closed: [{start: 2028-01-03}]}}", "2027 is missing before 2028"),
    ("years: {2027: {closed: [{start: 2027-02-12, end: 2027-02-08}]}}", "ends before it starts"),
    ("years: [1, 2", "cannot read holiday file"),
    ("years: {2027: {closed: [{date: 2027-01-04}]}}", "malformed"),
])
def test_a_bad_file_stops_with_the_file_and_the_problem(holidays, text, message):
    holidays.write_text(text)
    with pytest.raises(CalendarError, match=message) as err:
        xshg_calendar()
    assert str(holidays) in str(err.value)


def test_provisional_days_are_opt_in_flagged_and_refused_for_real_orders(holidays, monkeypatch):
    monkeypatch.setenv("AISTOCK_CALENDAR_PROVISIONAL", "weekdays")
    get_settings.cache_clear()
    cal = xshg_calendar()
    assert cal.authoritative_until == T("2026-12-31") and cal.horizon == T("2027-12-31")
    provisional = cal.provisional_sessions
    assert provisional[0] == T("2027-01-04") and provisional[-1] == T("2027-12-31")
    assert cal.is_provisional("2027-01-04") and not cal.is_provisional("2026-12-31")
    assert cal.require_authoritative("2026-12-31") == T("2026-12-31")
    with pytest.raises(CalendarError, match=r"2027-01-04 is a provisional session.*refusing to send real orders"):
        cal.require_authoritative("2027-01-04")
    warning = cal.horizon_warning("2026-12-20")
    assert "provisional sessions 2027-01-04..2027-12-31 are in use" in warning
    # The holiday file wins over the estimate for its year; the estimate moves on to the next one.
    holidays.write_text(HOLIDAYS_2027)
    cal = xshg_calendar()
    assert cal.authoritative_until == T("2027-12-31")
    assert cal.provisional_sessions[0] == T("2028-01-04")  # 1 Jan 2028 is a Saturday: Monday off
    assert cal.is_session("2027-02-05"), "listed as open in the file, though the estimate would close it"


def test_the_estimate_tracks_the_real_calendar_in_recent_years():
    """Independent reference: the closures exchange_calendars records for 2020–2026 (the Labour Day rule of
    1–5 May holds since 2020). At most two weekdays a year may differ either way."""
    real = pd.DatetimeIndex(xcals.get_calendar("XSHG", start="2020-01-02").sessions)
    for year in range(2020, 2027):
        closed = pd.bdate_range(f"{year}-01-01", f"{year}-12-31").difference(real)
        estimate = estimated_closures(year)
        assert len(closed.difference(estimate)) <= 2, (year, closed.difference(estimate))
        assert len(estimate.difference(closed)) <= 2, (year, estimate.difference(closed))
    assert {"2027-01-01", "2027-02-05", "2027-02-12", "2027-04-05", "2027-05-03", "2027-10-07"} <= {
        f"{d:%Y-%m-%d}" for d in estimated_closures(2027)}


def _warnings(today: str) -> tuple[str | None, str | None, int]:
    """(cheap warning, the built calendar's warning, calendars the cheap one built): each warning a message,
    None, or the CalendarError raised."""
    _build.cache_clear()
    outcomes = []
    for warn in (lambda: horizon_warning(today), lambda: xshg_calendar().horizon_warning(today)):
        try:
            outcomes.append(warn())
        except CalendarError as exc:
            outcomes.append(f"CalendarError: {exc}")
        outcomes.append(_build.cache_info().misses)
    return outcomes[0], outcomes[2], outcomes[1]


@pytest.mark.parametrize(("text", "provisional", "today", "expect"), [
    (None, "off", "2026-12-20", "ends on 2026-12-31, 11 days from 2026-12-20"),
    (None, "off", "2026-12-01", None),
    (None, "weekdays", "2026-12-20", "provisional sessions 2027-01-04..2027-12-31 are in use"),
    (HOLIDAYS_2027, "off", "2026-12-20", None),
    (HOLIDAYS_2027, "off", "2027-12-24", "ends on 2027-12-31, 7 days from 2027-12-24"),
    (HOLIDAYS_2027, "weekdays", "2027-12-24", "provisional sessions 2028-01-04..2028-12-29 are in use"),
    ("years: {2028: {closed: [{start: 2028-01-03}]}}", "off", "2026-12-01", "CalendarError: holiday file"),
    ("years: [1, 2", "off", "2026-12-01", "CalendarError: cannot read holiday file"),
])
def test_the_cheap_horizon_warning_says_what_the_built_calendar_says(holidays, monkeypatch, text, provisional,
                                                                     today, expect):
    """Every command's warning skips building the session index; its words (or error) must stay the calendar's,
    and a valid setup must not build the index at all (that is what makes it cheap)."""
    if text is not None:
        holidays.write_text(text)
    monkeypatch.setenv("AISTOCK_CALENDAR_PROVISIONAL", provisional)
    get_settings.cache_clear()
    cheap, built, calendars_built = _warnings(today)
    assert calendars_built == (1 if text and "2028-01-03" in text else 0)  # only a file failing verification
    assert cheap == built
    assert (cheap is None) if expect is None else (expect in cheap)


def test_the_cheap_horizon_warning_builds_the_calendar_for_a_start_outside_the_package(monkeypatch):
    monkeypatch.setenv("AISTOCK_CALENDAR_START", "1980-01-02")
    get_settings.cache_clear()
    cheap, built, _ = _warnings("2026-12-20")
    assert cheap == built and cheap.startswith("CalendarError: XSHG calendar cannot start at '1980-01-02'")

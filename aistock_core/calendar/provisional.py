"""Estimated XSHG closures for a year nobody has published yet: the opt-in provisional calendar.

The exchange announces each year's closures only in late December, and exchange_calendars releases follow
later still; a trading system must not stop at New Year while it waits. With
``AISTOCK_CALENDAR_PROVISIONAL=weekdays``, days past the authoritative horizon are weekdays minus these
estimated holidays. The estimate is deliberately simple and documented, because every provisional day is flagged
and refused for real orders; its job is to keep research, preview and paper runs going:

- fixed dates: New Year (1 Jan), Labour Day (1–5 May), National Day (1–7 Oct);
- Spring Festival: lunar New Year's Eve through the 7th day of the first lunar month;
- Qingming (the solar term, 4–5 Apr), Dragon Boat (5th of the 5th lunar month), Mid-Autumn (15th of the 8th);
  a one-day holiday that falls on a weekend moves to the following Monday, as the State Council's schedules do.

Lunar dates and solar terms come from ``lunar_python`` (6tail's lunar calendar), not from our own arithmetic.
Make-up working weekends are ignored: the exchanges stay closed on weekends whatever the schedule says.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

#: Fixed-date closures as (month, first day, last day).
FIXED_CLOSURES = ((1, 1, 1), (5, 1, 5), (10, 1, 7))
#: Last day of the Spring Festival closure, counted in days of the first lunar month.
SPRING_FESTIVAL_LAST_LUNAR_DAY = 7


def _solar(lunar_year: int, month: int, day: int) -> date:
    from lunar_python import Lunar

    solar = Lunar.fromYmd(lunar_year, month, day).getSolar()
    return date(solar.getYear(), solar.getMonth(), solar.getDay())


def _lunar_new_years_eve(year: int) -> date:
    """The last day of the 12th lunar month of the lunar year that ends in Gregorian ``year``."""
    return _solar(year, 1, 1) - timedelta(days=1)


def _qingming(year: int) -> date:
    from lunar_python import Lunar

    solar = Lunar.fromYmd(year, 3, 1).getJieQiTable()["清明"]
    return date(solar.getYear(), solar.getMonth(), solar.getDay())


def _observed(day: date) -> date:
    """A one-day holiday on a weekend is taken the following Monday."""
    return day + timedelta(days=(7 - day.weekday()) % 7) if day.weekday() >= 5 else day


def estimated_closures(year: int) -> pd.DatetimeIndex:
    """Weekdays of ``year`` the exchange is estimated to be closed (sorted, naive midnight timestamps)."""
    days: set[date] = set()
    for month, first, last in FIXED_CLOSURES:
        days.update(date(year, month, d) for d in range(first, last + 1))
    days.add(_observed(date(year, 1, 1)))
    eve = _lunar_new_years_eve(year)
    days.update(eve + timedelta(days=k) for k in range(SPRING_FESTIVAL_LAST_LUNAR_DAY + 1))
    days.update(_observed(d) for d in (_qingming(year), _solar(year, 5, 5), _solar(year, 8, 15)))
    stamps = pd.DatetimeIndex(sorted(days))
    return stamps[(stamps.year == year) & (stamps.dayofweek < 5)]


def provisional_sessions(first: pd.Timestamp, last: pd.Timestamp) -> pd.DatetimeIndex:
    """Estimated sessions in ``first..last``: weekdays minus `estimated_closures` of each year touched."""
    weekdays = pd.bdate_range(first, last)
    closed = pd.DatetimeIndex([]).append([estimated_closures(y) for y in range(first.year, last.year + 1)])
    return weekdays.difference(closed)

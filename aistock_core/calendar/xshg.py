"""The XSHG calendar every schedule, partition and command uses: package, then holiday file, then estimates.

Three layers, in order of authority:

1. exchange_calendars' XSHG sessions (4.13.2 knows them through 2026-12-31);
2. the operator's holiday file (`aistock_core.calendar.holidays`): each listed year past the package's horizon is
   authoritative, its sessions being its weekdays minus the listed closures (years must follow the package's
   horizon without a gap);
3. with ``AISTOCK_CALENDAR_PROVISIONAL=weekdays`` only: one more year of estimated sessions
   (`aistock_core.calendar.provisional`), flagged provisional everywhere and refused for real orders.

The result is cached per (start, holiday file contents, opt-in): editing the file changes the calendar of the
next call in this process, no restart needed (a running Dagster code location still needs a reload to offer
the new partitions; the horizon check says so).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

from aistock_core.calendar.holidays import load_holidays, verify_holidays
from aistock_core.calendar.provisional import provisional_sessions
from aistock_core.calendar.sessions import TradingCalendar
from aistock_core.config import get_settings
from aistock_core.errors import CalendarError

NAME = "XSHG"


@lru_cache(maxsize=4)
def package_sessions(start: str) -> tuple[pd.DatetimeIndex, pd.Timestamp]:
    """exchange_calendars' XSHG sessions from ``start``, and the last day its holiday data covers (``bound_max``)."""
    import exchange_calendars as xcals

    try:
        calendar = xcals.get_calendar(NAME, start=start)
    except (ValueError, xcals.errors.DateOutOfBounds) as exc:
        raise CalendarError(f"XSHG calendar cannot start at {start!r}: {exc}; fix AISTOCK_CALENDAR_START") from exc
    bound = pd.Timestamp(type(calendar).bound_max()).tz_localize(None).normalize()
    return pd.DatetimeIndex(calendar.sessions), bound


def package_version() -> str:
    from importlib.metadata import version

    return version("exchange_calendars")


def horizon_fix(holidays_path: Path) -> str:
    """What the operator does when the calendar runs out (said in every horizon error and warning)."""
    return (f"add next year's closures with `aistock calendar holidays add` (file {holidays_path}, "
            "AISTOCK_CALENDAR_HOLIDAYS) once the exchange publishes them, or opt in to provisional days with "
            "AISTOCK_CALENDAR_PROVISIONAL=weekdays (research, preview and paper only)")


def _signature(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def xshg_calendar(start: str | None = None) -> TradingCalendar:
    """The XSHG calendar from ``start`` (default ``AISTOCK_CALENDAR_START``) with the configured extensions."""
    settings = get_settings()
    path = settings.holidays_file
    return _build(start or settings.calendar_start, str(path), _signature(path), settings.calendar_provisional)


@lru_cache(maxsize=8)
def _build(start: str, path: str, signature: tuple[int, int] | None, provisional: str) -> TradingCalendar:
    """One calendar per (start, file state, opt-in); ``signature`` is only the cache key of the file's state."""
    del signature
    holidays_path = Path(path)
    package, authoritative = package_sessions(start)
    package_last = package[-1]
    sessions = [package]
    sources = [f"exchange_calendars {package_version()} (..{package_last:%Y-%m-%d})"]
    holidays = load_holidays(holidays_path)
    report = verify_holidays(holidays, package_last, package)
    if not report.ok:
        raise CalendarError(f"holiday file {holidays_path}: {'; '.join(report.problems)}; fix it (see `aistock "
                            "calendar holidays verify`)")
    listed = sorted(y for y in holidays.years if y > authoritative.year)
    for year in listed:
        weekdays = pd.bdate_range(f"{year}-01-01", f"{year}-12-31")
        sessions.append(weekdays.difference(holidays.closed_weekdays(year)))
        authoritative = pd.Timestamp(f"{year}-12-31")
    if listed:
        sources.append(f"holiday file {holidays_path} ({listed[0]}..{listed[-1]})")
    horizon = authoritative
    if provisional == "weekdays":
        horizon = pd.Timestamp(f"{authoritative.year + 1}-12-31")
        sessions.append(provisional_sessions(authoritative + pd.Timedelta(days=1), horizon))
        sources.append(f"provisional weekdays minus estimated holidays ({authoritative.year + 1})")
    return TradingCalendar(
        pd.DatetimeIndex([]).append(sessions), name=NAME, horizon=horizon, authoritative_until=authoritative,
        horizon_fix=horizon_fix(holidays_path), sources=tuple(sources),
    )

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

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd

from aistock_core.calendar.holidays import HolidayFile, load_holidays, verify_holidays
from aistock_core.calendar.provisional import provisional_sessions
from aistock_core.calendar.sessions import DateLike, TradingCalendar, horizon_message
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
    return pd.DatetimeIndex(calendar.sessions), package_bound()


def package_bound() -> pd.Timestamp:
    """The last day exchange_calendars' XSHG holiday data covers (``bound_max``): a class method, no sessions built."""
    from exchange_calendars.exchange_calendar_xshg import XSHGExchangeCalendar

    return pd.Timestamp(XSHGExchangeCalendar.bound_max()).tz_localize(None).normalize()


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
    holidays = load_holidays(holidays_path)
    report = verify_holidays(holidays, package_last)
    if not report.ok:
        raise CalendarError(f"holiday file {holidays_path}: {'; '.join(report.problems)}; fix it (see `aistock "
                            "calendar holidays verify`)")
    past = _past_the_package(holidays, holidays_path, authoritative, provisional)
    return TradingCalendar(
        pd.DatetimeIndex([]).append([package, *past.listed, past.provisional()]), name=NAME,
        horizon=past.horizon, authoritative_until=past.authoritative, horizon_fix=horizon_fix(holidays_path),
        sources=(f"exchange_calendars {package_version()} (..{package_last:%Y-%m-%d})", *past.sources),
    )


@dataclass(frozen=True)
class _PastThePackage:
    """What the holiday file and the provisional opt-in add after the package's horizon (layers 2 and 3)."""

    listed: list[pd.DatetimeIndex]
    authoritative: pd.Timestamp
    horizon: pd.Timestamp
    sources: list[str]

    def provisional(self) -> pd.DatetimeIndex:
        """Estimated sessions after the authoritative part (empty without the opt-in): computed on demand."""
        if self.horizon == self.authoritative:
            return pd.DatetimeIndex([])
        return provisional_sessions(self.authoritative + pd.Timedelta(days=1), self.horizon)


def _past_the_package(holidays: HolidayFile, holidays_path: Path, authoritative: pd.Timestamp,
                      provisional: str) -> _PastThePackage:
    """Layers 2 and 3 after the package's ``authoritative`` horizon, from the verified holiday file at
    ``holidays_path``."""
    listed = sorted(y for y in holidays.years if y > authoritative.year)
    sessions, sources = [], []
    for year in listed:
        weekdays = pd.bdate_range(f"{year}-01-01", f"{year}-12-31")
        sessions.append(weekdays.difference(holidays.closed_weekdays(year)))
        authoritative = pd.Timestamp(f"{year}-12-31")
    if listed:
        sources.append(f"holiday file {holidays_path} ({listed[0]}..{listed[-1]})")
    horizon = authoritative
    if provisional == "weekdays":
        horizon = pd.Timestamp(f"{authoritative.year + 1}-12-31")
        sources.append(f"provisional weekdays minus estimated holidays ({authoritative.year + 1})")
    return _PastThePackage(sessions, authoritative, horizon, sources)


def horizon_warning(today: DateLike) -> str | None:
    """``xshg_calendar().horizon_warning(today)``, the same words, without building the package's session index.

    Every command prints this warning, and the index (2005 to the package's horizon) costs a third of a second
    to build while the warning needs only the package's last covered day (`bound_max`, a class attribute), the
    holiday file and the opt-in. Where the cheap answer could differ from the calendar's own — a start outside
    the package's bounds, a machine clock more than a year before that horizon (the package then ends earlier),
    a holiday file that fails verification — the calendar is built, so the message (or its error) is the same.
    """
    from exchange_calendars.exchange_calendar_xshg import XSHGExchangeCalendar

    settings = get_settings()
    path = settings.holidays_file
    bound = package_bound()
    start = pd.Timestamp(settings.calendar_start)
    cheap = XSHGExchangeCalendar.bound_min() <= start < bound and XSHGExchangeCalendar.default_end() >= bound
    holidays = load_holidays(path) if cheap else None
    if holidays is not None and verify_holidays(holidays, bound).ok:
        past = _past_the_package(holidays, path, bound, settings.calendar_provisional)
        return horizon_message(NAME, today, past.authoritative, horizon_fix(path), past.provisional)
    return xshg_calendar().horizon_warning(today)

"""The operator's XSHG holiday file: closures of years that exchange_calendars does not know yet.

exchange_calendars ships XSHG holidays only as far as its last release knows (4.13.2: through 2026), and the
exchange publishes the next year's closures in late December. Rather than stop at New Year, the operator copies the
published closures into a small YAML file (``AISTOCK_CALENDAR_HOLIDAYS``, default ``AISTOCK_HOME/xshg_holidays.yaml``)
with ``aistock calendar holidays add``. A year with entries is authoritative: its sessions are its weekdays minus the
listed closures. A year with no weekday closures is recorded with an empty list (``holidays add --year Y --none``).

File format (see ``docs/xshg_holidays.example.yaml``)::

    version: 1
    years:
      2027:
        notice: "SSE notice on the 2027 holiday schedule, 2026-12-22"
        closed:
          - {start: 2027-01-01, note: New Year}
          - {start: 2027-02-08, end: 2027-02-12, note: Spring Festival}
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from aistock_core.errors import CalendarError


class Closure(BaseModel):
    """One closed date, or a range of dates (weekends inside a range are fine: they are closed anyway)."""

    model_config = ConfigDict(extra="forbid")

    start: date
    end: date | None = None
    note: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> Closure:
        if self.end is not None and self.end < self.start:
            raise ValueError(f"range {self.start}..{self.end} ends before it starts")
        return self

    @property
    def last(self) -> date:
        return self.end or self.start

    def weekdays(self) -> pd.DatetimeIndex:
        return pd.bdate_range(self.start, self.last)


class HolidayYear(BaseModel):
    """A year's closures and the notice they were copied from."""

    model_config = ConfigDict(extra="forbid")

    notice: str = ""
    closed: list[Closure] = Field(default_factory=list)


class HolidayFile(BaseModel):
    """The whole file: years → closures."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    years: dict[int, HolidayYear] = Field(default_factory=dict)

    def closed_weekdays(self, year: int) -> pd.DatetimeIndex:
        days = pd.DatetimeIndex([]).append([c.weekdays() for c in self.years[year].closed])
        return days.unique().sort_values()


def load_holidays(path: Path) -> HolidayFile:
    """The file at ``path`` (an absent file is an empty one); a malformed file is a `CalendarError` naming it."""
    if not path.exists():
        return HolidayFile()
    if not path.is_file():
        raise CalendarError(f"holiday file {path} is not a file; point AISTOCK_CALENDAR_HOLIDAYS at a YAML file")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return HolidayFile.model_validate(raw if raw is not None else {})
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise CalendarError(f"cannot read holiday file {path}: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise CalendarError(f"holiday file {path} is malformed: {problems}") from exc


def save_holidays(path: Path, holidays: HolidayFile) -> None:
    """Write the file atomically (temp file + rename), years and closures sorted, with a header."""
    years = {}
    for year in sorted(holidays.years):
        entry = holidays.years[year]
        closed = sorted(entry.closed, key=lambda c: (c.start, c.last))
        years[year] = {"notice": entry.notice,
                       "closed": [c.model_dump(mode="json", exclude_defaults=True) for c in closed]}
    text = ("# XSHG weekday closures not known to exchange_calendars; maintained with `aistock calendar holidays`.\n"
            + yaml.safe_dump({"version": 1, "years": years}, sort_keys=False, allow_unicode=True))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def add_closures(holidays: HolidayFile, closures: list[Closure], notice: str | None = None,
                 empty_year: int | None = None) -> HolidayFile:
    """A copy of ``holidays`` with ``closures`` added (each within one year; single dates must be weekdays).

    ``empty_year`` records a year with no weekday closures, which makes it authoritative all the same.
    """
    years = {y: entry.model_copy(deep=True) for y, entry in holidays.years.items()}
    for closure in closures:
        if closure.start.year != closure.last.year:
            raise CalendarError(f"range {closure.start}..{closure.last} spans two years; add one range per year")
        if closure.end is None and closure.start.weekday() >= 5:
            raise CalendarError(f"{closure.start} is a {closure.start:%A}: weekends are always closed, list weekdays")
        entry = years.setdefault(closure.start.year, HolidayYear())
        if all((c.start, c.last) != (closure.start, closure.last) for c in entry.closed):
            entry.closed.append(closure)
    if empty_year is not None:
        entry = years.setdefault(empty_year, HolidayYear())
        if entry.closed:
            raise CalendarError(f"{empty_year} already lists {len(entry.closed)} closure(s); --none is for a year "
                                "without weekday closures")
    if notice:
        for year in {c.start.year for c in closures} | ({empty_year} if empty_year else set()):
            years[year].notice = notice
    return HolidayFile(years=years)


@dataclass(frozen=True)
class VerifyReport:
    """What `verify_holidays` found: problems make the file unusable, notes are for information."""

    problems: list[str]
    notes: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_holidays(holidays: HolidayFile, package_last: pd.Timestamp,
                    package_sessions: pd.DatetimeIndex | None = None) -> VerifyReport:
    """Check the file against itself and against the package's calendar (which ends on ``package_last``).

    Rules: single dates are weekdays; closures are sorted, do not overlap and lie inside their year; the years
    beyond the package's horizon are contiguous with it (no gap a calendar could silently skip). A year the
    package already covers is ignored in favour of the package; the note says whether the two agree (only
    with ``package_sessions``: the problems need just ``package_last``, the notes the package's sessions).
    """
    problems: list[str] = []
    notes: list[str] = []
    for year, entry in sorted(holidays.years.items()):
        previous: Closure | None = None
        for closure in entry.closed:
            span = f"{closure.start}" + (f"..{closure.end}" if closure.end else "")
            if closure.start.year != year or closure.last.year != year:
                problems.append(f"{year}: {span} is not inside {year}")
            if closure.end is None and closure.start.weekday() >= 5:
                problems.append(f"{year}: {span} is a {closure.start:%A} (weekends are always closed)")
            if previous is not None and closure.start <= previous.last:
                problems.append(f"{year}: {span} is out of order or overlaps {previous.start}..{previous.last}")
            previous = closure
        if year <= package_last.year and package_sessions is not None:
            weekdays = pd.bdate_range(f"{year}-01-01", min(pd.Timestamp(f"{year}-12-31"), package_last))
            package_closed = weekdays.difference(package_sessions)
            listed = holidays.closed_weekdays(year)
            listed = listed[listed <= package_last]
            same = package_closed.equals(listed)
            notes.append(f"{year} is already known to exchange_calendars (which wins); the file "
                         + ("agrees" if same else f"differs on {len(package_closed.symmetric_difference(listed))} "
                            "day(s)"))
    beyond = sorted(y for y in holidays.years if y > package_last.year)
    expected = package_last.year + 1
    for year in beyond:
        if year != expected:
            problems.append(f"years must follow the calendar's horizon ({package_last:%Y-%m-%d}) without a gap: "
                            f"{expected} is missing before {year}")
            break
        expected += 1
    return VerifyReport(problems=problems, notes=notes)

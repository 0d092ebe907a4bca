"""Feedback periods: a day, a week, a month or a custom span of trading sessions.

A period is named by its first and last calendar dates and holds the sessions between them; a week or a month is
rolled on its last session (`roll_periods`), so a weekly file covers Monday..Friday sessions of one ISO week and
a monthly file the sessions of one calendar month.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pandas as pd

from aistock_core.calendar import TradingCalendar
from aistock_core.errors import FeedbackError

Kind = Literal["day", "week", "month", "custom"]
KINDS: tuple[str, ...] = ("day", "week", "month", "custom")


@dataclass(frozen=True)
class Period:
    start: pd.Timestamp
    end: pd.Timestamp
    kind: str
    sessions: pd.DatetimeIndex

    @property
    def label(self) -> str:
        return f"{self.start:%Y-%m-%d}_{self.end:%Y-%m-%d}"

    def as_dict(self) -> dict:
        return {"start_date": f"{self.start:%Y-%m-%d}", "end_date": f"{self.end:%Y-%m-%d}",
                "sessions": len(self.sessions), "kind": self.kind}


def _parse(value, what: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(value).normalize()
    except (ValueError, TypeError):
        raise FeedbackError(f"{what} {value!r} is not a date; write YYYY-MM-DD") from None


def make_period(calendar: TradingCalendar, start, end, kind: str = "custom") -> Period:
    """The period ``start..end`` of ``kind``; refuses an empty span, a span without sessions, and a day/week/month
    span that does not fit its kind."""
    if kind not in KINDS:
        raise FeedbackError(f"unknown period kind {kind!r}; use one of {', '.join(KINDS)}")
    first, last = _parse(start, "start"), _parse(end, "end")
    if first > last:
        raise FeedbackError(f"empty period {first:%Y-%m-%d}..{last:%Y-%m-%d}: the start is after the end")
    sessions = calendar.sessions_in_range(first, last)
    if len(sessions) == 0:
        raise FeedbackError(f"the period {first:%Y-%m-%d}..{last:%Y-%m-%d} holds no trading session; pick days the "
                            f"exchange was open")
    fits = {"day": len(sessions) == 1 and first == last,
            "week": first.isocalendar()[:2] == last.isocalendar()[:2],
            "month": (first.year, first.month) == (last.year, last.month), "custom": True}[kind]
    if not fits:
        raise FeedbackError(f"{first:%Y-%m-%d}..{last:%Y-%m-%d} is not one {kind}; use --kind custom for other spans")
    return Period(first, last, kind, sessions)


def roll_periods(calendar: TradingCalendar, day) -> list[Period]:
    """The periods that close on session ``day``: the day itself, its week if ``day`` is the week's last session,
    its month if it is the month's last session."""
    day = pd.Timestamp(day).normalize()
    out = [make_period(calendar, day, day, "day")]
    monday = day - pd.Timedelta(days=day.weekday())
    week = calendar.sessions_in_range(monday, monday + pd.Timedelta(days=6))
    if len(week) and week[-1] == day:
        out.append(make_period(calendar, week[0], day, "week"))
    month = calendar.sessions_in_range(day.replace(day=1), day + pd.offsets.MonthEnd(0))
    if len(month) and month[-1] == day:
        out.append(make_period(calendar, month[0], day, "month"))
    return out

"""``aistock calendar info|next|sessions``: what the trading calendar knows, from a terminal.

The calendar is the only authority on what a trading day is, so these commands answer the questions an
operator asks before a holiday ("is Thursday a session? when is the next one?") with the same object the
schedules use: XSHG from exchange_calendars, or a Qlib directory's ``calendars/day.txt`` with
``--provider-uri``. A holiday is never an error here: it is reported with the sessions either side.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer

from aistock_core.calendar import SESSION_TZ, TradingCalendar, exchange_today, qlib_calendar, xshg_calendar
from aistock_core.config import get_settings
from aistock_core.errors import CalendarError
from aistock_pipelines.cli.render import kv_table, make_console, print_frame

app = typer.Typer(help="Trading calendar: sessions, holidays, horizon.", no_args_is_help=True)

ProviderUri = Annotated[
    Path | None,
    typer.Option("--provider-uri", help="Use this Qlib directory's calendars/day.txt instead of XSHG."),
]


def parse_day(text: str, what: str = "date") -> pd.Timestamp:
    """A user-typed date (``2024-10-08``, ``20241008``) as a naive midnight Timestamp, or `CalendarError`."""
    try:
        stamp = pd.Timestamp(text)
    except (ValueError, TypeError) as exc:
        raise CalendarError(f"cannot read {what} {text!r} as a date; write it as YYYY-MM-DD") from exc
    if stamp is pd.NaT:
        raise CalendarError(f"{what} is empty; write it as YYYY-MM-DD")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert(SESSION_TZ).tz_localize(None)
    return stamp.normalize()


def load_calendar(provider_uri: Path | None) -> TradingCalendar:
    """XSHG (from the configured start), or the calendar of a Qlib directory."""
    if provider_uri is not None:
        return qlib_calendar(provider_uri)
    return xshg_calendar(get_settings().calendar_start)


def today() -> pd.Timestamp:
    """Today's date in exchange time (one function, so tests can move the clock for every command)."""
    return exchange_today()


def closed_runs(closed: pd.DatetimeIndex) -> pd.DataFrame:
    """Group closed weekdays into runs (a holiday week is one row): ``first, last, weekdays``.

    Two closed weekdays belong to one run when no weekday session lies between them, i.e. they are adjacent
    business days; computed on business-day ordinals so a weekend inside a holiday does not split it.
    """
    if len(closed) == 0:
        return pd.DataFrame({"first": pd.DatetimeIndex([]), "last": pd.DatetimeIndex([]), "weekdays": []})
    ordinal = np.busday_count(np.datetime64("1970-01-01", "D"), closed.values.astype("datetime64[D]"))
    starts = np.flatnonzero(np.diff(ordinal, prepend=ordinal[0] - 2) != 1)
    ends = np.append(starts[1:], len(closed)) - 1
    return pd.DataFrame({"first": closed[starts], "last": closed[ends], "weekdays": ends - starts + 1})


def describe_day(calendar: TradingCalendar, day: pd.Timestamp) -> str:
    """``2024-10-01 (Tuesday) is not a trading day; previous session 2024-09-30, next 2024-10-08``."""
    if calendar.is_session(day):
        return f"{day:%Y-%m-%d} ({day:%A}) is a trading day on {calendar.name}"
    parts = [f"{day:%Y-%m-%d} ({day:%A}) is not a trading day on {calendar.name}"]
    if day > calendar.first:
        parts.append(f"previous session {calendar.previous(day):%Y-%m-%d}")
    if day < calendar.last:
        parts.append(f"next {calendar.next(day):%Y-%m-%d}")
    return "; ".join(parts)


@app.command()
def info(provider_uri: ProviderUri = None) -> None:
    """Range, size and horizon of the calendar, and where today stands."""
    calendar = load_calendar(provider_uri)
    now = today()
    console = make_console()
    summary = {
        "calendar": calendar.name,
        "first session": calendar.first,
        "last session": calendar.last,
        "sessions": len(calendar),
        "today": now,
    }
    if calendar.first <= now <= calendar.last:
        summary["today is"] = "a trading day" if calendar.is_session(now) else "not a trading day"
        summary["previous session"] = calendar.previous(now) if now > calendar.first else None
        summary["next session"] = calendar.next(now) if now < calendar.last else None
    summary["sessions left"] = calendar.sessions_left(now)
    summary["days to horizon"] = (calendar.last - now).days
    console.print(kv_table(summary, title="Trading calendar"))
    warning = calendar.horizon_warning(now)
    if warning:
        console.print(f"[yellow]warning:[/] {warning}", markup=True, highlight=False, soft_wrap=True)


@app.command("next")
def next_sessions(
    day: Annotated[str | None, typer.Argument(help="From this date (default: today); need not be a session.")] = None,
    count: Annotated[int, typer.Option("--count", "-n", min=1, help="How many sessions to list.")] = 1,
    provider_uri: ProviderUri = None,
) -> None:
    """The next session(s) strictly after a date, saying whether the date itself trades."""
    calendar = load_calendar(provider_uri)
    start = parse_day(day) if day is not None else today()
    console = make_console()
    console.print(describe_day(calendar, start), soft_wrap=True)
    upcoming = pd.DatetimeIndex([calendar.next(start, k) for k in range(1, count + 1)])
    for k, session in enumerate(upcoming, start=1):
        console.print(f"next {k}: {session:%Y-%m-%d} ({session:%A})", highlight=False)


@app.command()
def sessions(
    start: Annotated[str, typer.Argument(help="First date of the range (inclusive).")],
    end: Annotated[str | None, typer.Argument(help="Last date (inclusive); default: start.")] = None,
    provider_uri: ProviderUri = None,
    max_rows: Annotated[int, typer.Option(help="Rows of the session table to show.")] = 40,
) -> None:
    """Sessions in [START, END], and the weekdays the exchange is closed in between (holidays)."""
    calendar = load_calendar(provider_uri)
    lo = parse_day(start, "START")
    hi = parse_day(end, "END") if end is not None else lo
    if lo > hi:
        raise CalendarError(f"START {lo:%Y-%m-%d} is after END {hi:%Y-%m-%d}; swap them")
    days = calendar.sessions_in_range(lo, hi)
    console = make_console()
    if len(days):
        frame = pd.DataFrame({"session": days, "weekday": days.day_name()})
        print_frame(frame, console=console, index=False, max_rows=max_rows,
                    title=f"{calendar.name} sessions {lo:%Y-%m-%d}..{hi:%Y-%m-%d}")
    else:
        console.print(f"no sessions between {lo:%Y-%m-%d} and {hi:%Y-%m-%d} on {calendar.name}", highlight=False)
    runs = closed_runs(calendar.closed_weekdays(max(lo, calendar.first), hi))
    if len(runs):
        print_frame(runs, console=console, index=False, title="Closed weekdays (holidays)")
    closed = int(runs["weekdays"].sum())
    console.print(f"{len(days)} session{'' if len(days) == 1 else 's'}, {closed} closed weekday"
                  f"{'' if closed == 1 else 's'}", highlight=False)

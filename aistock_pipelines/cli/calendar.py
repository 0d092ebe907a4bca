"""``aistock calendar info|next|sessions|holidays``: what the trading calendar knows, from a terminal.

The calendar is the only authority on what a trading day is, so these commands answer the questions an
operator asks before a holiday ("is Thursday a session? when is the next one?") with the same object the
schedules use: XSHG (exchange_calendars + the holiday file + opt-in provisional days), or a Qlib directory's
``calendars/day.txt`` (+ ``day_future.txt``) with ``--provider-uri``. A holiday is never an error here: it is
reported with the sessions either side. Every command takes ``--json`` (pure JSON on stdout; warnings on stderr).
``holidays add|list|verify`` maintain the operator's holiday file: the yearly step that keeps the calendar alive
past exchange_calendars' horizon.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer

from aistock_core.calendar import SESSION_TZ, TradingCalendar, exchange_today, qlib_calendar, xshg_calendar
from aistock_core.calendar.holidays import Closure, add_closures, load_holidays, save_holidays, verify_holidays
from aistock_core.calendar.xshg import package_sessions
from aistock_core.config import get_settings
from aistock_core.errors import CalendarError
from aistock_pipelines.cli.render import AsJson, echo_json, kv_table, make_console, print_frame

app = typer.Typer(help="Trading calendar: sessions, holidays, horizon.", no_args_is_help=True)
holidays_app = typer.Typer(help="The operator's XSHG holiday file (years exchange_calendars does not know yet).",
                           no_args_is_help=True)
app.add_typer(holidays_app, name="holidays")

ProviderUri = Annotated[
    Path | None,
    typer.Option("--provider-uri", help="Use this Qlib directory's calendars/day.txt (+ day_future.txt) instead "
                 "of XSHG."),
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
    """XSHG (with its extensions), or the calendar of a Qlib directory: ``--provider-uri``, or the configured
    data source when it is a Qlib directory."""
    settings = get_settings()
    if provider_uri is None and settings.data_source == "qlib" and settings.provider_uri is not None:
        provider_uri = settings.provider_uri
    if provider_uri is not None:
        return qlib_calendar(provider_uri, future=True)
    return xshg_calendar()


def _iso(day: pd.Timestamp | None) -> str | None:
    return None if day is None else f"{day:%Y-%m-%d}"


def _day_record(calendar: TradingCalendar, day: pd.Timestamp) -> dict[str, Any]:
    return {"date": _iso(day), "weekday": day.day_name(), "provisional": calendar.is_provisional(day)}


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
def info(provider_uri: ProviderUri = None, as_json: AsJson = False) -> None:
    """Range, size, sources and horizon of the calendar, and where today stands."""
    calendar = load_calendar(provider_uri)
    now = exchange_today()
    provisional = calendar.provisional_sessions
    summary: dict[str, Any] = {
        "calendar": calendar.name,
        "sources": "; ".join(calendar.sources),
        "first session": calendar.first,
        "last session": calendar.last,
        "authoritative until": calendar.authoritative_until,
        "provisional sessions": f"{provisional[0]:%Y-%m-%d}..{provisional[-1]:%Y-%m-%d} ({len(provisional)})"
        if len(provisional) else "none",
        "sessions": len(calendar),
        "today": now,
    }
    if calendar.first <= now <= calendar.horizon:
        summary["today is"] = "a trading day" if calendar.is_session(now) else "not a trading day"
        summary["previous session"] = calendar.previous(now) if now > calendar.first else None
        summary["next session"] = calendar.next(now) if now < calendar.last else None
    summary["sessions left"] = calendar.sessions_left(now)
    summary["days to horizon"] = (calendar.authoritative_until - now).days
    warning = calendar.horizon_warning(now)
    if as_json:
        record = {key.replace(" ", "_"): _iso(value) if isinstance(value, pd.Timestamp) else value
                  for key, value in summary.items()}
        record.update(sources=list(calendar.sources), provisional_sessions=len(provisional), warning=warning,
                      provisional_first=_iso(provisional[0]) if len(provisional) else None,
                      provisional_last=_iso(provisional[-1]) if len(provisional) else None)
        echo_json(record)
        return
    console = make_console()
    console.print(kv_table(summary, title="Trading calendar"))
    if warning:
        console.print(f"[yellow]warning:[/] {warning}", markup=True, highlight=False, soft_wrap=True)


@app.command("next")
def next_sessions(
    day: Annotated[str | None, typer.Argument(help="From this date (default: today); need not be a session.")] = None,
    count: Annotated[int, typer.Option("--count", "-n", min=1, help="How many sessions to list.")] = 1,
    provider_uri: ProviderUri = None,
    as_json: AsJson = False,
) -> None:
    """The next session(s) strictly after a date, saying whether the date itself trades."""
    calendar = load_calendar(provider_uri)
    start = parse_day(day) if day is not None else exchange_today()
    upcoming = pd.DatetimeIndex([calendar.next(start, k) for k in range(1, count + 1)])
    if as_json:
        echo_json({"calendar": calendar.name, "date": _iso(start), "is_session": calendar.is_session(start),
                   "next": [_day_record(calendar, d) for d in upcoming]})
        return
    console = make_console()
    console.print(describe_day(calendar, start), soft_wrap=True)
    for k, session in enumerate(upcoming, start=1):
        flag = " provisional" if calendar.is_provisional(session) else ""
        console.print(f"next {k}: {session:%Y-%m-%d} ({session:%A}){flag}", highlight=False)


@app.command()
def sessions(
    start: Annotated[str, typer.Argument(help="First date of the range (inclusive).")],
    end: Annotated[str | None, typer.Argument(help="Last date (inclusive); default: start.")] = None,
    provider_uri: ProviderUri = None,
    max_rows: Annotated[int, typer.Option(help="Rows of the session table to show.")] = 40,
    as_json: AsJson = False,
) -> None:
    """Sessions in [START, END], and the weekdays the exchange is closed in between (holidays)."""
    calendar = load_calendar(provider_uri)
    lo = parse_day(start, "START")
    hi = parse_day(end, "END") if end is not None else lo
    if lo > hi:
        raise CalendarError(f"START {lo:%Y-%m-%d} is after END {hi:%Y-%m-%d}; swap them")
    days = calendar.sessions_in_range(lo, hi)
    runs = closed_runs(calendar.closed_weekdays(max(lo, calendar.first), hi))
    provisional = calendar.provisional_sessions.intersection(days)
    if as_json:
        echo_json({"calendar": calendar.name, "start": _iso(lo), "end": _iso(hi),
                   "sessions": [_day_record(calendar, d) for d in days],
                   "closed": [{"first": _iso(r.first), "last": _iso(r.last), "weekdays": int(r.weekdays)}
                              for r in runs.itertuples()],
                   "provisional": len(provisional)})
        return
    console = make_console()
    if len(days):
        frame = pd.DataFrame({"session": days, "weekday": days.day_name(),
                              "status": np.where(days.isin(provisional), "provisional", "")})
        print_frame(frame, console=console, index=False, max_rows=max_rows,
                    title=f"{calendar.name} sessions {lo:%Y-%m-%d}..{hi:%Y-%m-%d}")
    else:
        console.print(f"no sessions between {lo:%Y-%m-%d} and {hi:%Y-%m-%d} on {calendar.name}", highlight=False)
    if len(runs):
        print_frame(runs, console=console, index=False, title="Closed weekdays (holidays)")
    closed = int(runs["weekdays"].sum())
    note = f" ({len(provisional)} provisional: estimated, never for real orders)" if len(provisional) else ""
    console.print(f"{len(days)} session{'' if len(days) == 1 else 's'}, {closed} closed weekday"
                  f"{'' if closed == 1 else 's'}{note}", highlight=False)


def _holiday_rows(path: Path) -> list[dict[str, Any]]:
    holidays = load_holidays(path)
    rows = []
    for year, entry in sorted(holidays.years.items()):
        if not entry.closed:
            rows.append({"year": year, "start": None, "end": None, "weekdays": 0, "note": "(no weekday closures)",
                         "notice": entry.notice})
        for closure in entry.closed:
            rows.append({"year": year, "start": f"{closure.start}", "end": f"{closure.last}",
                         "weekdays": len(closure.weekdays()), "note": closure.note, "notice": entry.notice})
    return rows


def _verify(path: Path) -> dict[str, Any]:
    sessions, _ = package_sessions(get_settings().calendar_start)
    report = verify_holidays(load_holidays(path), sessions[-1], sessions)
    return {"file": str(path), "ok": report.ok, "problems": report.problems, "notes": report.notes,
            "package_horizon": _iso(sessions[-1])}


@holidays_app.command("list")
def holidays_list(as_json: AsJson = False) -> None:
    """The closures in the holiday file, one row per date or range."""
    path = get_settings().holidays_file
    rows = _holiday_rows(path)
    if as_json:
        echo_json({"file": str(path), "exists": path.is_file(), "closures": rows})
        return
    console = make_console()
    if not rows:
        console.print(f"no holiday file entries ({path}); add a year with `aistock calendar holidays add`",
                      highlight=False, soft_wrap=True)
        return
    print_frame(pd.DataFrame(rows), console=console, index=False, title=f"Holiday file {path}")


@holidays_app.command("add")
def holidays_add(
    dates: Annotated[list[str] | None, typer.Argument(help="Closed weekdays (YYYY-MM-DD).")] = None,
    date_range: Annotated[tuple[str, str] | None, typer.Option(
        "--range", help="A closed range D1 D2 (inclusive; weekends inside are fine).")] = None,
    note: Annotated[str, typer.Option("--note", help="What the closure is (e.g. 'Spring Festival').")] = "",
    notice: Annotated[str | None, typer.Option(
        "--notice", help="The exchange notice the closures come from (recorded per year).")] = None,
    year: Annotated[int | None, typer.Option("--year", help="With --none: the year to mark.")] = None,
    none: Annotated[bool, typer.Option("--none", help="The year has no weekday closures (makes it authoritative).")]
    = False,
    as_json: AsJson = False,
) -> None:
    """Add closed dates/ranges to the holiday file (created if missing); the year becomes authoritative."""
    if none != (year is not None):
        raise CalendarError("--none and --year go together: `aistock calendar holidays add --year 2027 --none`")
    closures = [Closure(start=parse_day(text).date(), note=note) for text in dates or []]
    if date_range is not None:
        lo, hi = (parse_day(text, "--range date").date() for text in date_range)
        if hi < lo:
            raise CalendarError(f"--range {lo} {hi} ends before it starts; swap them")
        closures.append(Closure(start=lo, end=hi, note=note))
    if not closures and not none:
        raise CalendarError("nothing to add: give dates, --range D1 D2, or --year Y --none")
    path = get_settings().holidays_file
    updated = add_closures(load_holidays(path), closures, notice=notice, empty_year=year)
    sessions, _ = package_sessions(get_settings().calendar_start)
    report = verify_holidays(updated, sessions[-1], sessions)
    if not report.ok:
        raise CalendarError(f"not written: the file would be invalid: {'; '.join(report.problems)}")
    save_holidays(path, updated)
    added = [{"start": f"{c.start}", "end": f"{c.last}", "weekdays": len(c.weekdays())} for c in closures]
    calendar = xshg_calendar()
    result = {"file": str(path), "added": added, "marked_without_closures": year,
              "authoritative_until": _iso(calendar.authoritative_until), "notes": report.notes}
    if as_json:
        echo_json(result)
        return
    console = make_console()
    for item in added:
        span = item["start"] if item["start"] == item["end"] else f"{item['start']}..{item['end']}"
        console.print(f"closed {span} ({item['weekdays']} weekday{'' if item['weekdays'] == 1 else 's'})",
                      highlight=False)
    if year is not None:
        console.print(f"{year}: no weekday closures", highlight=False)
    console.print(f"wrote {path}; XSHG is now authoritative until {result['authoritative_until']}",
                  highlight=False, soft_wrap=True)


@holidays_app.command("verify")
def holidays_verify(as_json: AsJson = False) -> None:
    """Check the holiday file: weekdays only, sorted, inside their year, contiguous with the package's horizon."""
    result = _verify(get_settings().holidays_file)
    if as_json:
        echo_json(result)
    else:
        console = make_console()
        for note in result["notes"]:
            console.print(f"note: {note}", highlight=False, soft_wrap=True)
        for problem in result["problems"]:
            console.print(f"problem: {problem}", highlight=False, soft_wrap=True)
        console.print(f"{result['file']}: {'ok' if result['ok'] else 'INVALID'} (exchange_calendars knows XSHG "
                      f"until {result['package_horizon']})", highlight=False, soft_wrap=True)
    if not result["ok"]:
        raise typer.Exit(2)

"""Trading days and intraday session minutes for the Shanghai/Shenzhen exchanges.

Days come from XSHG (`aistock_core.calendar.xshg`: exchange_calendars + the operator's holiday file + opt-in
provisional days) or a Qlib directory's ``calendars/day.txt``; both are wrapped in one `TradingCalendar` so the rest
of the code never asks which. Past the calendar's horizon we fail loudly: silently treating an unknown future day as
a trading day would let a schedule trade on a holiday. Days past the *authoritative* part (provisional estimates)
are flagged, and `TradingCalendar.require_authoritative` refuses them for anything that moves real money.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time
from pathlib import Path

import numpy as np
import pandas as pd

from aistock_core.errors import CalendarError

SESSION_TZ = "Asia/Shanghai"
MORNING = (time(9, 30), time(11, 30))
AFTERNOON = (time(13, 0), time(15, 0))
#: Below this many days of future sessions, the CLI and the Dagster UI warn that the calendar needs updating.
HORIZON_WARNING_DAYS = 30

DateLike = str | date | datetime | pd.Timestamp | np.datetime64


def _day(value: DateLike) -> pd.Timestamp:
    """Normalise to a naive midnight Timestamp (a trade date)."""
    ts = pd.Timestamp(value)
    if ts.tzinfo is not None:
        ts = ts.tz_convert(SESSION_TZ).tz_localize(None)
    return ts.normalize()


class TradingCalendar:
    """An ordered set of trading days with navigation helpers.

    ``sessions`` is a sorted, naive `DatetimeIndex`; ``name`` says where it came from (for messages).
    """

    def __init__(self, sessions: pd.DatetimeIndex, name: str, *, horizon: DateLike | None = None,
                 authoritative_until: DateLike | None = None, horizon_fix: str | None = None,
                 sources: tuple[str, ...] = ()) -> None:
        sessions = pd.DatetimeIndex(sessions).normalize()
        if sessions.tz is not None:
            sessions = sessions.tz_localize(None)
        if len(sessions) == 0:
            raise CalendarError(f"calendar {name!r} has no sessions")
        if not sessions.is_monotonic_increasing or sessions.has_duplicates:
            raise CalendarError(f"calendar {name!r} is not strictly increasing; fix its source")
        self.sessions = sessions
        self.name = name
        self._values = sessions.values
        #: The last day the calendar vouches for (a closed day after the last session still counts).
        self.horizon = max(_day(horizon), self.last) if horizon is not None else self.last
        #: Days after this one are provisional: estimated, fine for research and paper, never for real orders.
        self.authoritative_until = (min(_day(authoritative_until), self.horizon) if authoritative_until is not None
                                    else self.horizon)
        #: What to do when a date is past the horizon (said in every horizon error and warning).
        self.horizon_fix = horizon_fix or "update exchange_calendars or the Qlib calendar file"
        #: Where the sessions came from, in reading order (for `aistock calendar info`).
        self.sources = sources or (name,)

    def __repr__(self) -> str:
        return f"TradingCalendar({self.name!r}, {self.first:%Y-%m-%d}..{self.last:%Y-%m-%d}, n={len(self)})"

    def __len__(self) -> int:
        return len(self.sessions)

    @property
    def first(self) -> pd.Timestamp:
        return self.sessions[0]

    @property
    def last(self) -> pd.Timestamp:
        return self.sessions[-1]

    @property
    def provisional_sessions(self) -> pd.DatetimeIndex:
        """Sessions past the authoritative part of the calendar (empty unless provisional days were opted in)."""
        return self.sessions[self.sessions > self.authoritative_until]

    def is_provisional(self, value: DateLike) -> bool:
        """Whether the date lies past the authoritative part of the calendar (an estimated day)."""
        return _day(value) > self.authoritative_until

    def require_authoritative(self, value: DateLike, purpose: str = "send real orders") -> pd.Timestamp:
        """The day, if the calendar vouches for it; a provisional day raises: an estimate must not move money."""
        day = _day(value)
        if self.is_provisional(day):
            raise CalendarError(
                f"{day:%Y-%m-%d} is a provisional session of {self.name} (authoritative until "
                f"{self.authoritative_until:%Y-%m-%d}); refusing to {purpose} on it: {self.horizon_fix}"
            )
        return day

    def _check_range(self, day: pd.Timestamp) -> None:
        if day > self.horizon:
            raise CalendarError(
                f"{day:%Y-%m-%d} is past the horizon of calendar {self.name!r} (last known session "
                f"{self.last:%Y-%m-%d}); {self.horizon_fix}"
            )
        if day < self.first:
            raise CalendarError(
                f"{day:%Y-%m-%d} is before the first session of calendar {self.name!r} ({self.first:%Y-%m-%d})"
            )

    def is_session(self, value: DateLike) -> bool:
        """Whether the date is a trading day; raises past the horizon rather than guessing."""
        day = _day(value)
        self._check_range(day)
        pos = np.searchsorted(self._values, day.to_datetime64())
        return bool(pos < len(self._values) and self._values[pos] == day.to_datetime64())

    def require_session(self, value: DateLike) -> pd.Timestamp:
        """Return the day if it is a trading day, else raise `CalendarError` naming the nearest sessions."""
        day = _day(value)
        if not self.is_session(day):
            prev = self.previous(day) if day > self.first else None
            nxt = self.next(day) if day < self.last else None
            raise CalendarError(
                f"{day:%Y-%m-%d} ({day:%A}) is not a trading day on {self.name}; nearest sessions: "
                f"{prev:%Y-%m-%d} before, {nxt:%Y-%m-%d} after" if prev is not None and nxt is not None
                else f"{day:%Y-%m-%d} is not a trading day on {self.name}"
            )
        return day

    def previous(self, value: DateLike, count: int = 1) -> pd.Timestamp:
        """The ``count``-th session strictly before the date (the date need not be a session)."""
        day = _day(value)
        self._check_range(day)
        pos = int(np.searchsorted(self._values, day.to_datetime64(), side="left")) - count
        if pos < 0:
            raise CalendarError(f"no session {count} before {day:%Y-%m-%d} on calendar {self.name!r}")
        return self.sessions[pos]

    def next(self, value: DateLike, count: int = 1) -> pd.Timestamp:
        """The ``count``-th session strictly after the date (the date need not be a session)."""
        day = _day(value)
        self._check_range(day)
        pos = int(np.searchsorted(self._values, day.to_datetime64(), side="right")) + count - 1
        if pos >= len(self._values):
            raise CalendarError(
                f"no session {count} after {day:%Y-%m-%d}: past the horizon of calendar {self.name!r} "
                f"(last known session {self.last:%Y-%m-%d}); {self.horizon_fix}"
            )
        return self.sessions[pos]

    def offset(self, value: DateLike, count: int) -> pd.Timestamp:
        """Move ``count`` sessions from a session (negative = back); ``offset(d, 0)`` requires d be a session."""
        day = self.require_session(value)
        if count == 0:
            return day
        return self.next(day, count) if count > 0 else self.previous(day, -count)

    def sessions_in_range(self, start: DateLike | None = None, end: DateLike | None = None) -> pd.DatetimeIndex:
        """Sessions with start ≤ day ≤ end (either bound optional); an end past the horizon raises."""
        lo = 0 if start is None else int(np.searchsorted(self._values, _day(start).to_datetime64(), "left"))
        if end is None:
            hi = len(self._values)
        else:
            end_day = _day(end)
            self._check_range(max(end_day, self.first))
            hi = int(np.searchsorted(self._values, end_day.to_datetime64(), "right"))
        return self.sessions[lo:hi]

    def last_session_before(self, value: DateLike) -> pd.Timestamp:
        """The last session strictly before the date, or the last known one once the date is past the horizon
        (what a market that has closed its books on "yesterday" ends on)."""
        day = _day(value)
        return self.last if day > self.horizon else self.previous(day)

    def last_session_on_or_before(self, value: DateLike) -> pd.Timestamp:
        day = _day(value)
        return day if self.is_session(day) else self.previous(day)

    def sessions_left(self, today: DateLike) -> int:
        """Number of known sessions strictly after ``today`` (0 when today is past the horizon)."""
        return int(len(self._values) - np.searchsorted(self._values, _day(today).to_datetime64(), "right"))

    def horizon_warning(self, today: DateLike) -> str | None:
        """A warning when fewer than 30 calendar days of authoritative future remain, else None.

        Provisional days do not count as future: they keep paper runs going, but real orders stop at the
        authoritative horizon, so the operator is warned as if they were not there (and told they are in use).
        """
        return horizon_message(self.name, today, self.authoritative_until, self.horizon_fix,
                               lambda: self.provisional_sessions)

    def closed_weekdays(self, start: DateLike | None = None, end: DateLike | None = None) -> pd.DatetimeIndex:
        """Weekdays (Mon–Fri) in the range that are not sessions: the holidays partitions must exclude."""
        lo = _day(start) if start is not None else self.first
        hi = _day(end) if end is not None else self.horizon
        weekdays = pd.bdate_range(lo, hi)
        return weekdays.difference(self.sessions)


def horizon_message(name: str, today: DateLike, authoritative_until: pd.Timestamp, horizon_fix: str,
                    provisional: Callable[[], pd.DatetimeIndex]) -> str | None:
    """`TradingCalendar.horizon_warning` from its parts, so a caller that knows them without the session index
    (`aistock_core.calendar.xshg.horizon_warning`) says exactly the same; ``provisional`` is asked for only when
    a warning is due."""
    day = _day(today)
    days_left = (authoritative_until - day).days
    if days_left >= HORIZON_WARNING_DAYS:
        return None
    message = (f"trading calendar {name!r} ends on {authoritative_until:%Y-%m-%d}, {days_left} days "
               f"from {day:%Y-%m-%d}; {horizon_fix} before it runs out, or schedules will stop")
    estimated = provisional()
    if len(estimated):
        message += (f"; provisional sessions {estimated[0]:%Y-%m-%d}..{estimated[-1]:%Y-%m-%d} are in use "
                    "(research, preview and paper only; real orders are refused on them)")
    return message


def _read_day_file(path: Path) -> pd.DatetimeIndex:
    try:
        days = pd.read_csv(path, header=None, dtype=str)[0].str.strip()
        return pd.DatetimeIndex(pd.to_datetime(days, format="ISO8601"))
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise CalendarError(f"cannot parse Qlib calendar {path}: {exc}") from exc


def qlib_calendar(provider_uri: str | Path, freq: str = "day", future: bool = False) -> TradingCalendar:
    """The calendar of a Qlib data directory (``calendars/<freq>.txt``, one date per line).

    With ``future``, Qlib's future-calendar convention is honoured too: ``calendars/<freq>_future.txt`` lists the
    sessions after the data (as Qlib's collector writes them), so schedules can look past the last bar. Data
    readers keep ``future=False``: bin offsets are positions in ``<freq>.txt`` alone.
    """
    root = Path(provider_uri).expanduser()
    path = root / "calendars" / f"{freq}.txt"
    if not path.is_file():
        raise CalendarError(f"Qlib calendar file not found: {path}")
    days = _read_day_file(path)
    sources = (str(path),)
    future_path = root / "calendars" / f"{freq}_future.txt"
    if future and future_path.is_file():
        days = days.union(_read_day_file(future_path))
        sources += (str(future_path),)
    return TradingCalendar(days, name=f"qlib:{root}", sources=sources,
                           horizon_fix=f"refresh {path.name} (or {future_path.name}) in {root / 'calendars'}")


def session_minutes(day: DateLike) -> pd.DatetimeIndex:
    """The 240 one-minute bar end times of a trading day, tz-aware Asia/Shanghai (09:31..11:30, 13:01..15:00).

    Bars are labelled by their end, as xtquant and most Chinese vendors do.
    """
    d = _day(day)
    morning = pd.date_range(d + pd.Timedelta(hours=9, minutes=31), d + pd.Timedelta(hours=11, minutes=30), freq="1min")
    afternoon = pd.date_range(d + pd.Timedelta(hours=13, minutes=1), d + pd.Timedelta(hours=15), freq="1min")
    return morning.append(afternoon).tz_localize(SESSION_TZ)


def is_trading_time(ts: DateLike, calendar: TradingCalendar | None = None) -> bool:
    """Whether a moment falls inside a continuous-trading session (09:30–11:30, 13:00–15:00 Shanghai time).

    Naive timestamps are taken as Shanghai time. The day must be a session of ``calendar`` (XSHG by default).
    """
    stamp = pd.Timestamp(ts)
    local = stamp.tz_convert(SESSION_TZ) if stamp.tzinfo is not None else stamp.tz_localize(SESSION_TZ)
    t = local.time()
    in_session = MORNING[0] <= t <= MORNING[1] or AFTERNOON[0] <= t <= AFTERNOON[1]
    if not in_session:
        return False
    if calendar is None:
        from aistock_core.calendar.xshg import xshg_calendar

        calendar = xshg_calendar()
    return calendar.is_session(local.tz_localize(None))

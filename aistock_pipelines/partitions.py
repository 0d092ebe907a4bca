"""Trading-day partitions: one Dagster partition per XSHG session, and key ↔ trade-date helpers.

Why a `DailyPartitionsDefinition` with exclusions rather than a static list: Dagster keeps time-window semantics
(look-backs via `TimeWindowPartitionMapping(start_offset=-k)` count *trading* days, backfill ranges, the
partition bar in the UI), while weekends (a cron exclusion) and the exchange's weekday holidays (explicit
dates from the calendar) never become keys. The set ends at the calendar's horizon: a day the calendar cannot
vouch for is not offered as a partition at all (past the horizon, fail loudly).

The calendar is XSHG as extended by the operator's holiday file (and, on opt-in, provisional days), so the
partitions of 2027 exist as soon as the file lists 2027; keys of earlier years never change, since a year's
sessions only come from one source. The set is built when the code location loads: after editing the holiday
file, reload the location (the ``calendar_horizon`` check says when it is due). Provisional days are keys like
any other; their materialisations say ``calendar: provisional`` and order jobs refuse them.
"""

from __future__ import annotations

from datetime import datetime

import dagster as dg
import pandas as pd

from aistock_core.calendar import SESSION_TZ, TradingCalendar, exchange_now, exchange_today, xshg_calendar
from aistock_core.config import get_settings
from aistock_core.errors import CalendarError

#: Partition keys are ISO dates, the same spelling as trade dates everywhere else.
KEY_FORMAT = "%Y-%m-%d"
WEEKEND_CRON = "0 0 * * 6,0"


def first_partition(settings_start: str | None, today: pd.Timestamp) -> str:
    """``AISTOCK_PARTITIONS_START``, else the first day of the month a year before ``today``.

    A year of sessions keeps the partition bar readable and "missing" counts meaningful; more history is a
    setting and a backfill away (README, "Backfilling more history"). Read from the environment, which every
    process of a deployment (webserver, daemon, run workers) shares, so they agree on the partition set; the
    default moves once a month, like the end of the set moves once a day.
    """
    if settings_start:
        return settings_start
    return (today.normalize() - pd.DateOffset(years=1)).replace(day=1).strftime(KEY_FORMAT)



def partition_calendar() -> TradingCalendar:
    """The calendar partitions are keyed on: XSHG with its extensions (cached while the holiday file is unchanged)."""
    return xshg_calendar()


def _build_trading_days(calendar: TradingCalendar, start: str) -> dg.DailyPartitionsDefinition:
    holidays = calendar.closed_weekdays(start, calendar.last)
    return dg.DailyPartitionsDefinition(
        start_date=start,
        # Exclusive end: the day after the last session the calendar knows.
        end_date=(calendar.last + pd.Timedelta(days=1)).strftime(KEY_FORMAT),
        timezone=SESSION_TZ,
        fmt=KEY_FORMAT,
        # Today's partition exists during the day, so the end-of-day schedule can request it at 16:30.
        end_offset=1,
        exclusions=[WEEKEND_CRON, *(d.to_pydatetime() for d in holidays)],
    )


_loaded_calendar = partition_calendar()
#: First partition (see `first_partition`).
PARTITIONS_START = first_partition(get_settings().partitions_start, exchange_today())
#: The partitions definition every trading-day asset uses.
trading_days: dg.DailyPartitionsDefinition = _build_trading_days(_loaded_calendar, PARTITIONS_START)
#: The last session the loaded partitions offer (the calendar may have grown since: see ``calendar_horizon``).
PARTITIONS_LAST: pd.Timestamp = _loaded_calendar.last


def calendar_status(day: pd.Timestamp) -> str:
    """``provisional`` for an estimated session past the authoritative calendar, else ``authoritative``."""
    return "provisional" if partition_calendar().is_provisional(day) else "authoritative"


def trade_date(partition_key: str) -> pd.Timestamp:
    """The trade date (naive midnight Timestamp) of a partition key; `CalendarError` if it is not a session.

    Asset bodies call this first, so even a key forced past Dagster's own check (an old run re-executed after
    a calendar update moved a holiday) never writes data for a non-trading day.
    """
    try:
        day = datetime.strptime(partition_key, KEY_FORMAT)
    except (TypeError, ValueError) as exc:
        raise CalendarError(
            f"partition key {partition_key!r} is not a date in {KEY_FORMAT} form (e.g. 2024-01-02)"
        ) from exc
    return require_session(day)


def require_session(day: str | datetime | pd.Timestamp) -> pd.Timestamp:
    """The day as a naive Timestamp if it is an XSHG session; `CalendarError` naming the nearest sessions else."""
    return partition_calendar().require_session(day)


def partition_key(day: str | datetime | pd.Timestamp) -> str:
    """The partition key of a trading day (refuses non-sessions, so callers never request a missing key)."""
    return require_session(day).strftime(KEY_FORMAT)


def recent_partition_keys(count: int, today: str | datetime | pd.Timestamp | None = None) -> list[str]:
    """The last ``count`` trading-day keys up to ``today`` (inclusive; default: today in Shanghai), oldest first.

    Clipped at `PARTITIONS_START`; a ``today`` past the horizon raises rather than guessing.
    """
    if count <= 0:
        raise CalendarError(f"count must be a positive number of trading days, got {count}")
    end = exchange_today() if today is None else pd.Timestamp(today).normalize()
    days = partition_calendar().sessions_in_range(PARTITIONS_START, end)[-count:]
    return [d.strftime(KEY_FORMAT) for d in days]


def scheduled_day(context: dg.ScheduleEvaluationContext) -> pd.Timestamp:
    """The Shanghai calendar day (naive midnight) a schedule tick is for: its scheduled time, else now."""
    when = context.scheduled_execution_time
    stamp = pd.Timestamp(when) if when is not None else exchange_now()
    stamp = stamp.tz_convert(SESSION_TZ) if stamp.tzinfo is not None else stamp.tz_localize(SESSION_TZ)
    return stamp.tz_localize(None).normalize()

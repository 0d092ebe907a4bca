"""Checks on the data assets. ``calendar_horizon`` is the UI side of "the calendar must not run out"."""


import dagster as dg
import pandas as pd

from aistock_core.calendar import TradingCalendar, exchange_today
from aistock_pipelines.defs.data.assets import instruments
from aistock_pipelines.partitions import PARTITIONS_LAST, partition_calendar


def horizon_check_result(calendar: TradingCalendar, today: pd.Timestamp,
                         partitions_last: pd.Timestamp | None = None) -> dg.AssetCheckResult:
    """WARN (not an error: today's data is fine) when fewer than 30 days of authoritative calendar remain, when
    provisional days are in use (the warning names their range), or when the calendar now knows more sessions
    than the loaded partitions (the holiday file changed: reload the code location)."""
    problems = [warning] if (warning := calendar.horizon_warning(today)) else []
    if partitions_last is not None and calendar.last > partitions_last:
        problems.append(f"the calendar now reaches {calendar.last:%Y-%m-%d} but the loaded partitions end on "
                        f"{partitions_last:%Y-%m-%d}: reload the code location to add the new partitions")
    provisional = calendar.provisional_sessions
    return dg.AssetCheckResult(
        passed=not problems,
        severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(problems) or f"calendar {calendar.name} authoritative until "
                                            f"{calendar.authoritative_until:%Y-%m-%d}",
        metadata={
            "last_session": dg.MetadataValue.text(f"{calendar.last:%Y-%m-%d}"),
            "authoritative_until": dg.MetadataValue.text(f"{calendar.authoritative_until:%Y-%m-%d}"),
            "provisional_sessions": dg.MetadataValue.text(
                f"{provisional[0]:%Y-%m-%d}..{provisional[-1]:%Y-%m-%d}" if len(provisional) else "none"),
            "days_left": dg.MetadataValue.int(int((calendar.authoritative_until - today.normalize()).days)),
            "sessions_left": dg.MetadataValue.int(calendar.sessions_left(today)),
            "sources": dg.MetadataValue.text("; ".join(calendar.sources)),
        },
    )


# On the (unpartitioned) instrument table, which the end-of-day job refreshes once a day: the horizon is judged
# once per day, not once per bar partition of a backfill.
@dg.asset_check(asset=instruments, description="Once a day: warn when the authoritative trading calendar has < 30 "
                "days of future left, when provisional days are in use, or when the partitions need a reload.")
def calendar_horizon() -> dg.AssetCheckResult:
    return horizon_check_result(partition_calendar(), exchange_today(), PARTITIONS_LAST)

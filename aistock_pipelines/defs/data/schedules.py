"""End-of-day schedule: after the close (16:30 Shanghai), materialise the day's market assets.

Hand-written rather than `build_schedule_from_partitioned_job` (with exclusions it requests future
trading days on holidays in 1.13). Weekday holidays are skipped with a reason the UI shows; a day past the
calendar's horizon raises, so the tick fails visibly instead of guessing.
"""


import dagster as dg

from aistock_core.calendar import SESSION_TZ
from aistock_pipelines.defs.data.assets import GROUP
from aistock_pipelines.partitions import KEY_FORMAT, calendar_status, partition_calendar, scheduled_day

market_eod_job = dg.define_asset_job(
    "market_eod",
    selection=dg.AssetSelection.groups(GROUP),
    description="The day's instrument table, stock bars and index bars.",
)


@dg.schedule(job=market_eod_job, cron_schedule="30 16 * * 1-5", execution_timezone=SESSION_TZ,
             default_status=dg.DefaultScheduleStatus.STOPPED,
             description="16:30 Shanghai on XSHG sessions: the day's instruments, stock and index bars (the head of "
                         "the end-of-day chain; automation carries it on). Off by default: start it once the data "
                         "source is configured.")
def market_eod_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    """One run per trading day, keyed by the day so a re-evaluated tick never launches it twice."""
    day = scheduled_day(context)
    calendar = partition_calendar()
    if not calendar.is_session(day):
        return dg.SkipReason(f"{day:%Y-%m-%d} ({day:%A}) is not a trading day on {calendar.name}")
    key = day.strftime(KEY_FORMAT)
    return dg.RunRequest(partition_key=key, run_key=f"market_eod:{key}",
                         tags={"aistock/trade_date": key, "aistock/calendar": calendar_status(day)})

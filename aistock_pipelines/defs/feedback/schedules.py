"""The 22:00 feedback run (Asia/Shanghai, trading days only): the day's LiveFeedback, then the optimizer."""


import dagster as dg
import pandas as pd

from aistock_core.calendar import SESSION_TZ, exchange_now
from aistock_pipelines.defs.feedback.assets import live_feedback, optimizer_proposals
from aistock_pipelines.partitions import KEY_FORMAT, partition_calendar

feedback_job = dg.define_asset_job(
    "feedback_nightly", selection=[live_feedback, optimizer_proposals],
    description="The day's LiveFeedback files (week/month rolls on their last session) and the optimizer's "
                "proposals (pending approval).")


@dg.schedule(job=feedback_job, cron_schedule="0 22 * * 1-5", execution_timezone=SESSION_TZ,
             default_status=dg.DefaultScheduleStatus.STOPPED,
             description="22:00 on trading days: LiveFeedback for every instance, then the optimizer's proposals.")
def feedback_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    when = context.scheduled_execution_time
    stamp = pd.Timestamp(when) if when is not None else exchange_now()
    local = stamp.tz_convert(SESSION_TZ) if stamp.tzinfo else stamp.tz_localize(SESSION_TZ)
    day = local.tz_localize(None).normalize()
    calendar = partition_calendar()
    if not calendar.is_session(day):
        return dg.SkipReason(f"{day:%Y-%m-%d} ({day:%A}) is not a trading day on {calendar.name}")
    key = day.strftime(KEY_FORMAT)
    return dg.RunRequest(partition_key=key, run_key=f"feedback_nightly:{key}", tags={"aistock/trade_date": key})

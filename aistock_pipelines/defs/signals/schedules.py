"""Signals schedules: 08:00 (generate the day's signals) and 18:00 (evaluate), Asia/Shanghai, trading days only.

Written as plain `@schedule`s that skip non-trading days with a reason (DESIGN §5: the partitioned-job helper
requests future days on holidays). Both default to stopped like every schedule here: an operator turns them on.
"""

import dagster as dg
import pandas as pd

from aistock_core.calendar import SESSION_TZ
from aistock_pipelines.partitions import KEY_FORMAT, partition_calendar

signals_job = dg.define_asset_job("trading_signals_job", selection=["trading_signals"],
                                  description="The day's trading signals: generated from target weights, validated.")
evaluation_job = dg.define_asset_job("performance_report_job", selection=["performance_report"],
                                     description="The evening evaluation of every instance and its signals.")


def _day_schedule(name: str, cron: str, job, description: str) -> dg.ScheduleDefinition:
    @dg.schedule(name=name, job=job, cron_schedule=cron, execution_timezone=SESSION_TZ, description=description)
    def _schedule(context: dg.ScheduleEvaluationContext):
        when = pd.Timestamp(context.scheduled_execution_time)
        day = (when.tz_convert(SESSION_TZ) if when.tzinfo else when).tz_localize(None).normalize()
        calendar = partition_calendar()
        if not calendar.is_session(day):
            return dg.SkipReason(f"{day:%Y-%m-%d} ({day:%A}) is not a trading day on {calendar.name}")
        key = day.strftime(KEY_FORMAT)
        return dg.RunRequest(partition_key=key, run_key=f"{name}:{key}")

    return _schedule


signals_schedule = _day_schedule("trading_signals_0800", "0 8 * * 1-5", signals_job,
                                 "08:00 on trading days: the day's signals from last evening's target weights.")
evaluation_schedule = _day_schedule("performance_report_1800", "0 18 * * 1-5", evaluation_job,
                                    "18:00 on trading days: close the day's signals and evaluate every instance.")

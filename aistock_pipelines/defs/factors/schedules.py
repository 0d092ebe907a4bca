"""The weekly full alignment: every Qlib-referenced factor set against Qlib over the whole universe.

The daily blocking check compares a seeded sample of instruments (`checks.DAILY_SAMPLE`); on Friday evening this
schedule re-runs the week's last session with ``sample: 0``, so every name is compared at least once a week. The
factor values are recomputed too (a check runs beside its asset): the same bytes, the same data version.
"""

import dagster as dg
import pandas as pd

from aistock_core.calendar import SESSION_TZ
from aistock_core.factors.sets import FactorSet
from aistock_pipelines.defs.factors.checks import CHECK_NAME
from aistock_pipelines.partitions import KEY_FORMAT, partition_calendar, scheduled_day

FULL_JOB = "factor_alignment_full"


def build_full_alignment(specs: list[FactorSet]) -> tuple[dg.JobDefinition, dg.ScheduleDefinition]:
    """The full-universe alignment job of the Qlib-referenced ``specs`` and its weekly schedule."""
    qlib_sets = [spec.name for spec in specs if spec.reference == "qlib"]
    job = dg.define_asset_job(
        FULL_JOB, selection=dg.AssetSelection.assets(*qlib_sets),
        config={"ops": {f"{name}_{CHECK_NAME}": {"config": {"sample": 0}} for name in qlib_sets}},
        description="The Qlib-referenced factor sets of one session, their alignment check over every instrument "
                    "(the daily check samples).")

    @dg.schedule(name=f"{FULL_JOB}_weekly", job=job, cron_schedule="0 18 * * 5", execution_timezone=SESSION_TZ,
                 default_status=dg.DefaultScheduleStatus.STOPPED,
                 description="Fridays 18:00 Shanghai: the full Qlib alignment of the week's last session. Off by "
                             "default, like the end-of-day schedule it follows.")
    def _weekly(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        today = scheduled_day(context)
        calendar = partition_calendar()
        week = calendar.sessions_in_range(today - pd.Timedelta(days=4), today)
        if len(week) == 0:
            return dg.SkipReason(f"no XSHG session in the week ending {today:%Y-%m-%d}")
        key = week[-1].strftime(KEY_FORMAT)
        return dg.RunRequest(partition_key=key, run_key=f"{FULL_JOB}:{key}", tags={"aistock/trade_date": key})

    return job, _weekly

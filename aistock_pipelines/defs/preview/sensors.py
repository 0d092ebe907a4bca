"""The minute refresh sensor: during XSHG sessions only, at most one refresh run per minute slot.

Outside 09:30–11:30 / 13:00–15:00 (or on a non-trading day) it returns a `SkipReason`. The run key is the slot
(``preview_refresh:YYYY-MM-DD HH:MM``), so a tick re-evaluated in the same minute never launches twice; while a
refresh run is still queued or running the slot is skipped instead of piling up runs behind a slow one.
"""


import dagster as dg
import pandas as pd

from aistock_core.calendar import SESSION_TZ, is_trading_time
from aistock_pipelines.defs.preview.assets import preview_refresh_job
from aistock_pipelines.partitions import partition_calendar

ACTIVE = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
          dg.DagsterRunStatus.STARTED]


def _now() -> pd.Timestamp:
    return pd.Timestamp.now(tz=SESSION_TZ)


def refresh_request(context: dg.SensorEvaluationContext, now: pd.Timestamp) -> dg.RunRequest | dg.SkipReason:
    """The decision of one tick at ``now`` (tz-aware or naive Shanghai time)."""
    local = now.tz_convert(SESSION_TZ) if now.tzinfo is not None else now.tz_localize(SESSION_TZ)
    slot = local.floor("min").tz_localize(None)
    if not is_trading_time(slot, partition_calendar()):
        return dg.SkipReason(f"{slot:%Y-%m-%d %H:%M} is outside the XSHG sessions; no refresh")
    running = context.instance.get_runs(filters=dg.RunsFilter(job_name=preview_refresh_job.name, statuses=ACTIVE),
                                        limit=1)
    if running:
        return dg.SkipReason(f"refresh run {running[0].run_id} is still in progress; skipping slot {slot:%H:%M}")
    key = f"{slot:%Y-%m-%d %H:%M}"
    return dg.RunRequest(run_key=f"preview_refresh:{key}",
                         run_config={"ops": {"preview_refresh_op": {"config": {"at": key}}}},
                         tags={"aistock/slot": key})


@dg.sensor(job=preview_refresh_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.STOPPED,
           description="Every minute of the XSHG sessions: one preview refresh run per minute slot. Off by default "
                       "(it needs a live quote source).")
def preview_refresh_sensor(context: dg.SensorEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    return refresh_request(context, _now())

"""Monitoring sensors: a failed run, stale market data and a calendar about to run out each raise an alert.

Both are on by default: they only read (runs, the app DB's partition ledger, the calendar) and send nothing until
the operator configures channels (``AISTOCK_ALERT_CHANNELS``); before that the alerts are logged and recorded.
The watch is a sensor rather than an asset check so it fires even when no run does (a dead end-of-day schedule
is exactly when data goes stale); it uses the same calendar rule as the ``calendar_horizon`` check.
"""


import dagster as dg
from sqlalchemy import func, select

from aistock_core.alerts.sources import (
    calendar_horizon_alert,
    expected_data_day,
    run_failure_alert,
    stale_data_alert,
)
from aistock_core.calendar import exchange_now
from aistock_core.db.models import BarPartition
from aistock_pipelines.partitions import partition_calendar
from aistock_pipelines.resources import AlertsResource, DatabaseResource

#: The end-of-day datasets whose freshness is watched (the ledger's ``dataset`` values).
WATCHED_DATASETS = ("market_bars", "index_bars")
WATCH_INTERVAL_SECONDS = 600


def _failure_text(context: dg.RunFailureSensorContext) -> str:
    """The run's failure message plus the first failed step's error (what a human needs first)."""
    parts = [context.failure_event.message or ""]
    for event in context.get_step_failure_events()[:1]:
        error = event.step_failure_data.error
        while error is not None and error.cause is not None:  # Dagster wraps the op's own exception
            error = error.cause
        if error is not None:
            parts.append(f"step {event.step_key}: {error.message.strip()}")
    return "\n".join(p for p in parts if p)


@dg.run_failure_sensor(
    name="alert_on_run_failure",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Sends a run_failure alert (job, run id, partition, first step error) for every failed run of "
                "this code location; one message per job per de-duplication window.",
)
def alert_on_run_failure(context: dg.RunFailureSensorContext, alerts: AlertsResource) -> None:
    run = context.dagster_run
    alerts.send(run_failure_alert(run.job_name, run.run_id, _failure_text(context),
                                  partition=run.tags.get("dagster/partition")))


def latest_day(database: DatabaseResource, dataset: str):
    """The latest trade date the ledger holds for ``dataset`` (None when nothing was written yet)."""
    with database.get_db().session() as session:
        return session.execute(select(func.max(BarPartition.trade_date))
                               .where(BarPartition.dataset == dataset)).scalar()


@dg.sensor(
    name="market_data_watch",
    minimum_interval_seconds=WATCH_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Every 10 minutes: alerts when market_bars/index_bars lag the last session whose data is due "
                "(17:30 Shanghai) and when the authoritative trading calendar ends within 30 days. Starts no runs.",
)
def market_data_watch(context: dg.SensorEvaluationContext, alerts: AlertsResource,
                      database: DatabaseResource) -> dg.SkipReason:
    calendar = partition_calendar()
    now = exchange_now()
    expected = expected_data_day(calendar, now)
    found = [calendar_horizon_alert(calendar, now.tz_localize(None).normalize())]
    found += [stale_data_alert(name, latest_day(database, name), expected.date(), calendar)
              for name in WATCHED_DATASETS]
    raised = [alert for alert in found if alert is not None]
    for alert in raised:
        alerts.send(alert)
    summary = "; ".join(alert.title for alert in raised) or f"data current to {expected:%Y-%m-%d}, calendar ok"
    return dg.SkipReason(summary)

"""Operations box: monitoring alerts (run failures, stale data, calendar horizon), the deployment probe job, and
the default executor (multiprocess, or Celery for scale-out)."""

import dagster as dg

from aistock_core.config import get_settings
from aistock_pipelines.defs.ops.executor import executor_from_settings
from aistock_pipelines.defs.ops.jobs import deployment_probe
from aistock_pipelines.defs.ops.sensors import alert_on_run_failure, market_data_watch
from aistock_pipelines.resources import AlertsResource


def _alerts() -> AlertsResource:
    """Bound with the app DB URL as an EnvVar when one is set (it may carry a password), like ``database``."""
    if get_settings().database_url:
        return AlertsResource(database_url=dg.EnvVar("AISTOCK_DATABASE_URL"))
    return AlertsResource()


defs = dg.Definitions(
    jobs=[deployment_probe],
    sensors=[alert_on_run_failure, market_data_watch],
    resources={"alerts": _alerts()},
    executor=executor_from_settings(get_settings()),
)

"""Alert on a failed order run: the failure is recorded as an unresolved ``alert`` risk event of the instance
(what `aistock trade status` and the next run's operator see) and logged at error level."""

import dagster as dg

from aistock_pipelines.defs.execution.jobs import live_orders, paper_orders
from aistock_pipelines.resources import DatabaseResource


@dg.run_failure_sensor(name="order_run_failed", monitored_jobs=[paper_orders, live_orders],
                       default_status=dg.DefaultSensorStatus.RUNNING,
                       description="Records a failed paper/live order run as an unresolved alert event of its "
                                   "instance. On by default: it only reads runs and writes the risk log.")
def order_run_failed(context: dg.RunFailureSensorContext, database: DatabaseResource) -> None:
    from aistock_core.execution.store import ExecutionStore

    run = context.dagster_run
    instance = run.tags.get("aistock/instance") or _configured_instance(run.run_config)
    message = context.failure_event.message or "order run failed"
    context.log.error(f"order run {run.run_id} ({run.job_name}, instance {instance}) failed: {message}")
    if instance is None:
        return
    ExecutionStore(database.get_db()).record_events([{
        "event_key": f"alert|{run.run_id}", "instance": instance, "trading_day": None, "kind": "alert",
        "intent_key": None, "symbol": None, "allowed": None, "rule": "run_failed",
        "message": f"{run.job_name} run {run.run_id} failed: {message}"[:2000], "resolved": False}])


def _configured_instance(run_config: dict) -> str | None:
    for op_config in (run_config.get("ops") or {}).values():
        name = (op_config.get("config") or {}).get("instance")
        if name:
            return name
    return None

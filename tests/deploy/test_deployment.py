"""The production deployment runs here: deploy/Procfile's gRPC code server, daemon and webserver with
dagster.yaml on PostgreSQL; runs are launched through the webserver's GraphQL and started by the daemon.
"""

from __future__ import annotations

import dagster as dg
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.postgres]



def _probe_config(hold_seconds: float = 0) -> dict:
    """Steps in the run worker's own process: every subprocess would import the project again, and what is
    tested here is the path daemon → launcher → run worker, not the executor (test_celery.py tests that)."""
    return {"execution": {"config": {"in_process": {}}},
            "ops": {f"probe_{i}": {"config": {"hold_seconds": hold_seconds}} for i in range(4)}}


def test_a_run_launched_through_the_webserver_is_queued_then_run_by_the_daemon(deployment):
    deployment.start_core()
    run = deployment.launch_run("deployment_probe", _probe_config())
    assert run["status"] == "QUEUED"  # the QueuedRunCoordinator holds it for the daemon
    assert deployment.wait_finished(run["runId"]) == "SUCCESS"

    # An independent look at the instance, straight from its PostgreSQL storage.
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        events = [e.dagster_event.event_type for e in instance.all_logs(run["runId"]) if e.dagster_event]
        kinds = dg.DagsterEventType
        # Enqueued by the webserver, then started by the daemon's launch (STARTING), then run by the worker.
        assert events.index(kinds.RUN_ENQUEUED) < events.index(kinds.RUN_STARTING) < events.index(kinds.RUN_START)
        assert events.count(kinds.STEP_SUCCESS) == 5  # four probes and the summary
        stored = instance.get_run_by_id(run["runId"])
        assert stored.job_name == "deployment_probe" and stored.is_success


def test_live_order_runs_never_overlap(deployment):
    """The tag limit ``aistock/live-orders: 1`` of dagster.yaml, enforced by the running daemon."""
    deployment.start_core()
    tags = {"aistock/live-orders": "paper"}
    first = deployment.launch_run("deployment_probe", _probe_config(3), tags)
    second = deployment.launch_run("deployment_probe", _probe_config(3), tags)
    free = deployment.launch_run("deployment_probe", _probe_config())  # untagged: not held back by the limit
    for run in (first, second, free):
        assert deployment.wait_finished(run["runId"]) == "SUCCESS"
    with dg.DagsterInstance.get() as instance:
        records = {r.dagster_run.run_id: r for r in instance.get_run_records()}
    a, b = sorted((records[first["runId"]], records[second["runId"]]), key=lambda r: r.start_time)
    assert b.start_time >= a.end_time, "two live-order runs were in progress at the same time"

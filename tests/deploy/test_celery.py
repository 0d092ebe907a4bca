"""Scale-out on Celery: two workers from deploy/Procfile on the machine's RabbitMQ (or Redis), and a run whose
steps the celery executor (``AISTOCK_EXECUTOR=celery``) spreads over both; each probe step reports its worker."""

from __future__ import annotations

import socket
import uuid

import dagster as dg
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def _step_outputs(instance: dg.DagsterInstance, run_id: str) -> dict[str, dict]:
    """Output metadata of each step of a run, from the event log."""
    outputs = {}
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_OUTPUT):
        event = record.dagster_event
        outputs[event.step_key] = {k: v.value for k, v in event.step_output_data.metadata.items()}
    return outputs


def test_probe_steps_run_on_both_celery_workers(deployment, celery_broker):
    broker, backend = celery_broker
    queue = f"aistock_t_{uuid.uuid4().hex[:8]}"  # private queue: other runs on the same broker never mix in
    deployment.env.update(AISTOCK_EXECUTOR="celery", AISTOCK_CELERY_BROKER=broker, AISTOCK_CELERY_BACKEND=backend,
                          AISTOCK_CELERY_QUEUE=queue, AISTOCK_CELERY_CONCURRENCY="1")
    deployment.start_core()
    names = [f"w1_{queue}@{socket.gethostname()}", f"w2_{queue}@{socket.gethostname()}"]
    for i, name in enumerate(names, start=1):
        deployment.start(f"worker#{i}", AISTOCK_CELERY_WORKER_NAME=name.split("@")[0])
    for i, name in enumerate(names, start=1):
        deployment.wait_for_log(f"worker#{i}", f"{name} ready")

    run = deployment.launch_run("deployment_probe", {"ops": {f"probe_{i}": {"config": {"hold_seconds": 4}}
                                                             for i in range(4)}})
    assert deployment.wait_finished(run["runId"], limit_s=300) == "SUCCESS"

    with dg.DagsterInstance.get() as instance:
        outputs = _step_outputs(instance, run["runId"])
        engine = [r.dagster_event.message or ""
                  for r in instance.all_logs(run["runId"], of_type=dg.DagsterEventType.ENGINE_EVENT)]
    probes = {key: meta for key, meta in outputs.items() if key != "probe_summary"}
    assert len(probes) == 4
    assert {meta["celery_worker"] for meta in probes.values()} == set(names)
    assert outputs["probe_summary"]["workers"] == ", ".join(sorted(names))
    # The executor's own account: every step went to the private queue.
    assert sum(f'to queue "{queue}"' in message for message in engine) == 5
    # And the workers' own: both ran execute_plan tasks.
    for i in (1, 2):
        assert "execute_plan" in deployment.log(f"worker#{i}") and "succeeded" in deployment.log(f"worker#{i}")


BACKFILL = """
mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}"""
BACKFILL_STATUS = ("query($id: String!) { partitionBackfillOrError(backfillId: $id) { "
                   "... on PartitionBackfill { status } } }")


def test_market_backfill_runs_its_steps_on_both_workers(deployment, celery_broker, tmp_path):
    broker, backend = celery_broker
    queue = f"aistock_t_{uuid.uuid4().hex[:8]}"
    deployment.env.update(AISTOCK_EXECUTOR="celery", AISTOCK_CELERY_BROKER=broker, AISTOCK_CELERY_BACKEND=backend,
                          AISTOCK_CELERY_QUEUE=queue, AISTOCK_CELERY_CONCURRENCY="1",
                          AISTOCK_SYNTHETIC_INSTRUMENTS="30", AISTOCK_SYNTHETIC_START="2026-01-05")
    graphql = deployment.start_core()
    names = [f"w1_{queue}@{socket.gethostname()}", f"w2_{queue}@{socket.gethostname()}"]
    for i, name in enumerate(names, start=1):
        deployment.start(f"worker#{i}", AISTOCK_CELERY_WORKER_NAME=name.split("@")[0])
    for i, name in enumerate(names, start=1):
        deployment.wait_for_log(f"worker#{i}", f"{name} ready")

    days = ["2026-11-11", "2026-11-12", "2026-11-13"]
    answer = graphql(BACKFILL, {"params": {
        "partitionNames": days, "assetSelection": [{"path": ["market_bars"]}, {"path": ["index_bars"]}]}})
    launched = answer["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]

    def finished() -> str | None:
        status = graphql(BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]["status"]
        return status if status not in ("REQUESTED", "IN_PROGRESS") else None

    status = deployment.wait_for(f"the end of backfill {backfill_id}", finished, limit_s=480)
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
        steps = {}
        for run in runs:
            for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS):
                steps[(run.tags.get("dagster/partition"), record.dagster_event.step_key)] = run.run_id
    assert status == "COMPLETED_SUCCESS", [(r.run_id, r.status) for r in runs]
    assert {(day, asset) for day in days for asset in ("market_bars", "index_bars")} <= set(steps)
    # Which worker ran each step, from the workers' own logs (Dagster logs each step inside the worker).
    ran_on = {i: sum(f"{run_id} - " in line and "STEP_SUCCESS" in line
                     for run_id in set(steps.values()) for line in deployment.log(f"worker#{i}").splitlines())
              for i in (1, 2)}
    assert ran_on[1] >= 1 and ran_on[2] >= 1 and ran_on[1] + ran_on[2] == len(steps), ran_on

"""``deployment_probe``: a small fan-out job that proves a deployment works end to end, and where steps ran.

Launched after a deploy (or by the deployment test): the queued-run coordinator and the daemon must dequeue it,
the run launcher start a run worker, the executor place each step (on a Celery worker when ``AISTOCK_EXECUTOR=
celery``), and each step reach the app DB. Every step reports host, pid and Celery worker name as output metadata,
so the run page shows how the steps were spread.
"""


import os
import socket
import time

import dagster as dg
from sqlalchemy import text

from aistock_pipelines.resources import DatabaseResource

PROBE_STEPS = 4


class ProbeConfig(dg.Config):
    """``hold_seconds``: keep each step busy this long, so several workers get a share of the steps."""

    hold_seconds: float = 0.0


def _celery_worker() -> str:
    """The Celery worker node running this step (``name@host``), or ``-`` outside Celery."""
    try:
        from celery import current_task
    except ImportError:
        return "-"
    request = getattr(current_task, "request", None)
    return getattr(request, "hostname", None) or "-"


@dg.op(description="Reaches the app DB and reports where it ran (host, pid, Celery worker).")
def probe_step(context: dg.OpExecutionContext, config: ProbeConfig, database: DatabaseResource) -> dg.Output[str]:
    with database.get_db().engine.connect() as conn:
        conn.execute(text("select 1"))
    time.sleep(config.hold_seconds)
    worker = _celery_worker()
    context.log.info(f"{context.op.name} ran on {socket.gethostname()} pid {os.getpid()} worker {worker}")
    return dg.Output(worker, metadata={"host": socket.gethostname(), "pid": os.getpid(), "celery_worker": worker})


@dg.op(description="Counts the distinct workers the probe steps ran on.")
def probe_summary(context: dg.OpExecutionContext, workers: list[str]) -> dg.Output[int]:
    distinct = sorted(set(workers))
    context.log.info(f"{len(workers)} probe steps ran on {len(distinct)} worker(s): {distinct}")
    return dg.Output(len(distinct), metadata={"workers": ", ".join(distinct)})


@dg.job(
    description="Deployment self-test: the daemon dequeues it, each of its parallel steps reaches the app DB and "
                "reports where it ran (host, pid, Celery worker). Safe to run any time; writes nothing.",
    tags={"aistock/kind": "ops"},
)
def deployment_probe() -> None:
    probe_summary([probe_step.alias(f"probe_{i}")() for i in range(PROBE_STEPS)])

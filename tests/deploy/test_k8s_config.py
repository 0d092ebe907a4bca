"""The Kubernetes route as configuration: the Helm values keep the production rules, and the code loads with the
k8s_job_executor. No cluster here: see deploy/k8s/README.md for what this does not cover."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
VALUES = yaml.safe_load((ROOT / "deploy" / "k8s" / "values.yaml").read_text())


def test_values_keep_the_queue_the_live_order_limit_and_the_launcher():
    daemon = VALUES["dagsterDaemon"]
    assert daemon["runCoordinator"]["type"] == "QueuedRunCoordinator"
    limits = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]["tagConcurrencyLimits"]
    assert {"key": "aistock/live-orders", "limit": 1} in limits
    assert VALUES["runLauncher"]["type"] == "K8sRunLauncher"
    assert VALUES["postgresql"]["postgresqlScheme"] == "postgresql+psycopg2"
    [code] = VALUES["dagster-user-deployments"]["deployments"]
    assert code["dagsterApiGrpcArgs"] == ["--module-name", "aistock_pipelines.definitions"]


def test_the_same_rules_as_the_procfile_deployment():
    instance = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    queue = VALUES["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    runs = instance["concurrency"]["runs"]
    assert queue["maxConcurrentRuns"] == runs["max_concurrent_runs"]
    assert queue["tagConcurrencyLimits"] == runs["tag_concurrency_limits"]


def test_code_loads_with_the_k8s_job_executor(tmp_path):
    try:
        import dagster_k8s  # noqa: F401
    except ImportError:
        reason = "dagster-k8s not installed (pip install -e '.[k8s]')"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    script = ("import json; from aistock_pipelines.definitions import defs; "
              "repo = defs.get_repository_def(); "
              "print(json.dumps({j.name: j.executor_def.name for j in repo.get_all_jobs()}))")
    env = {**os.environ, "AISTOCK_EXECUTOR": "k8s", "AISTOCK_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    executors = json.loads(done.stdout.strip().splitlines()[-1])
    assert executors["deployment_probe"] == "k8s"  # a job without an executor of its own takes the default

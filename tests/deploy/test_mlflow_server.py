"""deploy/Procfile's MLflow tracking server with its backend store on PostgreSQL: experiments and the model
registry (which needs a database store) land in that database."""

from __future__ import annotations

import socket

import httpx
import pytest
from sqlalchemy import create_engine, text

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_mlflow_server_stores_experiments_and_registered_models_in_postgres(deployment, pg_databases, tmp_path):
    store = pg_databases()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    deployment.env.update(MLFLOW_BACKEND_STORE_URI=store, MLFLOW_ARTIFACT_ROOT=str(tmp_path / "mlartifacts"),
                          MLFLOW_PORT=str(port), MLFLOW_WORKERS="1")
    deployment.start("mlflow")
    base = f"http://127.0.0.1:{port}"
    deployment.wait_for("the MLflow server", lambda: httpx.get(f"{base}/health", timeout=5).status_code == 200,
                        limit_s=240)
    created = httpx.post(f"{base}/api/2.0/mlflow/experiments/create", json={"name": "aistock-deploy"}, timeout=30)
    assert created.status_code == 200, created.text
    model = httpx.post(f"{base}/api/2.0/mlflow/registered-models/create", json={"name": "alpha158_lgb"}, timeout=30)
    assert model.status_code == 200, model.text

    engine = create_engine(store)
    try:
        with engine.connect() as conn:
            experiments = set(conn.execute(text("select name from experiments")).scalars())
            models = set(conn.execute(text("select name from registered_models")).scalars())
    finally:
        engine.dispose()
    assert "aistock-deploy" in experiments and models == {"alpha158_lgb"}

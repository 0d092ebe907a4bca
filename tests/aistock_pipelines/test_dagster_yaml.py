"""The production ``dagster.yaml``: PostgreSQL storage from env vars, queued runs, one live-order run at a time.

The file is used as shipped (copied into a temporary DAGSTER_HOME); isolation comes from a fresh database
created for the test and dropped afterwards, so nothing in the file is edited to make the test pass.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import dagster as dg
import pytest
import yaml
from sqlalchemy import create_engine, make_url, text

ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("AISTOCK_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


def _admin_engine():
    return create_engine(PG_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})


@pytest.fixture
def pg_dagster_home(tmp_path, monkeypatch):
    """A DAGSTER_HOME holding the shipped dagster.yaml, its env pointing at a fresh PostgreSQL database."""
    engine = _admin_engine()
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # any driver/connection failure means "no PostgreSQL here"
        engine.dispose()
        reason = f"PostgreSQL not reachable at {PG_URL}: {type(exc).__name__}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    name = f"dagster_t_{uuid.uuid4().hex[:10]}"
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_URL)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DAGSTER_PG_HOST", url.host or "127.0.0.1")
    monkeypatch.setenv("DAGSTER_PG_PORT", str(url.port or 5432))
    monkeypatch.setenv("DAGSTER_PG_USER", url.username or "postgres")
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", url.password or "")
    monkeypatch.setenv("DAGSTER_PG_DB", name)
    try:
        yield home
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def test_file_reads_every_connection_setting_from_the_environment():
    config = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    db = config["storage"]["postgres"]["postgres_db"]
    assert db["scheme"] == "postgresql+psycopg2"
    assert {k: v for k, v in db.items() if k != "scheme"} == {
        "hostname": {"env": "DAGSTER_PG_HOST"}, "port": {"env": "DAGSTER_PG_PORT"},
        "username": {"env": "DAGSTER_PG_USER"}, "password": {"env": "DAGSTER_PG_PASSWORD"},
        "db_name": {"env": "DAGSTER_PG_DB"},
    }
    assert config["telemetry"] == {"enabled": False}


def test_instance_runs_on_postgres_with_the_live_order_limit(pg_dagster_home):
    from dagster_postgres import PostgresRunStorage

    @dg.asset
    def probe() -> int:
        return 1

    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        queue = instance.get_concurrency_config().run_queue_config
        assert {"key": "aistock/live-orders", "limit": 1} in queue.tag_concurrency_limits
        result = dg.materialize([probe], instance=instance)
        assert result.success
        run = instance.get_run_by_id(result.run_id)
        assert run is not None and run.is_success
        assert instance.get_latest_materialization_event(probe.key) is not None


def test_readme_sets_exactly_the_variables_the_shipped_file_reads():
    """The README's PostgreSQL instructions export the variables dagster.yaml reads, by the same names."""
    shipped = yaml.safe_load((ROOT / "dagster.yaml").read_text())["storage"]["postgres"]["postgres_db"]
    wanted = {value["env"] for value in shipped.values() if isinstance(value, dict)}
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### PostgreSQL for Dagster's own storage"):readme.index("### A real Qlib")]
    exported = {word.split("=")[0] for word in section.split() if word.startswith("DAGSTER_PG_")}
    assert exported == wanted

"""Shared fixtures: isolated AISTOCK_HOME, and database URLs for SQLite and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

PG_URL = os.environ.get("AISTOCK_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


def _pg_available() -> str | None:
    """None when PostgreSQL answers, else the reason it does not."""
    try:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any driver/connection failure means "not here"
        return f"PostgreSQL not reachable at {PG_URL}: {type(exc).__name__}"


_PG_SKIP = _pg_available()


@pytest.fixture
def aistock_home(tmp_path, monkeypatch) -> Iterator:
    """A fresh AISTOCK_HOME per test; settings cache cleared so the env takes effect."""
    from aistock_core.config import get_settings

    home = tmp_path / "aistock_home"
    monkeypatch.setenv("AISTOCK_HOME", str(home))
    monkeypatch.delenv("AISTOCK_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield home
    get_settings.cache_clear()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL with a private schema (dropped afterwards), so parallel tests do not collide."""
    if _PG_SKIP:
        if os.environ.get("CI"):
            pytest.fail(_PG_SKIP)
        pytest.skip(_PG_SKIP)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> str:
    """Run a database test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture(scope="session")
def os_sandbox() -> None:
    """Tests that run untrusted code need the OS sandbox: skipped here without it, a failure under CI=true."""
    from aistock_core.untrusted import _isolation_problem

    problem = _isolation_problem()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"the OS sandbox is required in CI: {problem}")
        pytest.skip(f"no OS sandbox here: {problem}")

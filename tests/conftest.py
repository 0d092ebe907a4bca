"""Shared fixtures and guards: isolated AISTOCK_HOME, database URLs for SQLite and PostgreSQL, and the
``qlib`` marker for tests whose reference is pyqlib.

A missing service or extra skips its tests on a laptop but fails them under ``CI`` (``CI=true``): a CI run
that silently skipped every parity test would report green without having checked anything.
"""

from __future__ import annotations

import importlib.util
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
_QLIB_MISSING = None if importlib.util.find_spec("qlib") else (
    "pyqlib 0.9.7 (the 'qlib' extra, the reference) is not installed: pip install -e '.[qlib]'")


def skip_or_fail(reason: str) -> None:
    """Skip the running test for ``reason``; under CI fail it instead (nothing may go unchecked there)."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """The guard behind ``@pytest.mark.qlib``: without pyqlib such a test skips, or fails under CI."""
    if _QLIB_MISSING and item.get_closest_marker("qlib"):
        skip_or_fail(_QLIB_MISSING)


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
        skip_or_fail(_PG_SKIP)
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

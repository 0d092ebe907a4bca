"""Shared fixtures: a pinned clock, isolated AISTOCK_HOME, and database URLs for SQLite and PostgreSQL.

The clock: every test runs with ``AISTOCK_NOW`` pinned (``AISTOCK_TEST_NOW`` overrides the default), so no test
depends on the machine's date; ``tests/test_clock_independence.py`` re-runs the date-sensitive tests (marked
``clock``) under several faked machine dates and pinned "todays" to prove it.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

#: "Now" for every test unless it pins its own: a Monday session, well inside the package's XSHG horizon.
PINNED_NOW = os.environ.get("AISTOCK_TEST_NOW", "2026-11-16 10:00")
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


@pytest.fixture(autouse=True)
def pinned_clock(monkeypatch) -> Iterator[None]:
    """Pin the one clock (`aistock_core.calendar.clock`) for this test and every process it starts."""
    from aistock_core.config import get_settings

    monkeypatch.setenv("AISTOCK_NOW", PINNED_NOW)
    for name in ("AISTOCK_CALENDAR_HOLIDAYS", "AISTOCK_CALENDAR_PROVISIONAL"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def set_now(monkeypatch):
    """``set_now("2026-12-31")`` moves the pinned clock (in this process and the processes it starts)."""
    from aistock_core.config import get_settings

    def move(moment) -> None:
        monkeypatch.setenv("AISTOCK_NOW", str(moment))
        get_settings.cache_clear()

    return move


@pytest.fixture
def faketime():
    """``faketime(moment)``: a command prefix that runs a process with the machine clock at ``moment``
    (libfaketime, Debian ``faketime``).

    Needed where the clock is not ours: Dagster decides which time partitions exist from its own clock.
    Without the tool, the test skips (fails under ``CI=true``: `.ci/run` installs it).
    """
    tool = shutil.which("faketime")
    if tool is None:
        reason = "faketime not installed (apt-get install faketime)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return lambda moment: [tool, "-f", f"@{moment}"]


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

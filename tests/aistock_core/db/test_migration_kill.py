"""A first migration killed at any moment leaves a database the next command opens (issue 15, finding 2).

The migration runs in a forked child (the parent has imported everything, so the child starts migrating at
once) that is SIGKILLed after a delay; delays sweep the whole migration, which takes ~0.2 s. Then a fresh
`Database` must open the same URL, reach every Alembic head and take a write.
"""

from __future__ import annotations

import os
import signal
import time
import uuid

import pytest
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, func, select, text

from aistock_core.db import Database
from aistock_core.db.models import Instrument
from aistock_core.errors import ConfigError

#: Kill points per sweep, spread evenly over the time an unkilled first migration takes on this machine.
KILLS = 16


def _fork_migration(url: str) -> int:
    pid = os.fork()
    if pid == 0:  # child: migrate, then leave without running the parent's cleanup handlers
        try:
            Database(url).dispose()
        finally:
            os._exit(0)
    return pid


def _migration_seconds(url: str) -> float:
    """How long a forked first migration of ``url`` takes to finish (the window the kills sweep)."""
    began = time.perf_counter()
    os.waitpid(_fork_migration(url), 0)
    return time.perf_counter() - began


def _killed_during_migration(url: str, delay: float) -> bool:
    """Fork a child that opens ``url`` (migrating it), SIGKILL it after ``delay`` s; True if it was still running."""
    pid = _fork_migration(url)
    time.sleep(delay)
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status)


def _assert_usable(url: str) -> None:
    db = Database(url)
    try:
        with db.engine.connect() as conn:
            heads = set(MigrationContext.configure(conn).get_current_heads())
        assert heads == set(ScriptDirectory.from_config(db.alembic_config()).get_heads())
        with db.session() as s:
            s.add(Instrument(code="600000.SH", board="sh_main", source="test"))
        with db.session() as s:
            assert s.scalar(select(func.count()).select_from(Instrument)) == 1
    finally:
        db.dispose()


def test_sqlite_first_migration_killed_anywhere_is_all_or_nothing(tmp_path):
    window = _migration_seconds(f"sqlite:///{tmp_path / 'timing.db'}")
    killed = 0
    for k in range(KILLS):
        url = f"sqlite:///{tmp_path / f'app{k}.db'}"
        killed += _killed_during_migration(url, window * k / KILLS)
        _assert_usable(url)
    assert killed >= KILLS // 3  # the sweep really interrupted migrations, not only finished ones


@pytest.mark.postgres
def test_postgres_first_migration_killed_anywhere_is_all_or_nothing(pg_url):
    admin = create_engine(pg_url)
    schema = pg_url.rsplit("%3D", 1)[1]
    try:
        window = _migration_seconds(pg_url)
        for k in range(KILLS // 2):
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            admin.dispose()  # no pooled connection is shared with the forked child
            _killed_during_migration(pg_url, window * 2 * k / KILLS)
            _assert_usable(pg_url)
    finally:
        admin.dispose()


def test_half_made_schema_of_an_older_version_is_repaired_when_empty(tmp_path):
    """What the old per-statement DDL left behind: tables without alembic_version. Empty: dropped and redone."""
    url = f"sqlite:///{tmp_path / 'half.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE instruments (code VARCHAR(16) PRIMARY KEY)"))
    engine.dispose()
    _assert_usable(url)


def test_half_made_schema_with_rows_is_refused_with_what_is_wrong(tmp_path):
    url = f"sqlite:///{tmp_path / 'half.db'}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE instruments (code VARCHAR(16) PRIMARY KEY)"))
        conn.execute(text("INSERT INTO instruments VALUES ('600000.SH')"))
    engine.dispose()
    with pytest.raises(ConfigError) as err:
        Database(url)
    message = str(err.value)
    assert "instruments" in message and "alembic_version" in message and "server is running" not in message


def test_a_file_that_is_not_a_database_is_named_as_such(tmp_path):
    path = tmp_path / f"{uuid.uuid4().hex}.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ConfigError, match="not a database") as err:
        Database(f"sqlite:///{path}")
    assert "server is running" not in str(err.value)

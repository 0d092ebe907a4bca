"""`Database` on SQLite and PostgreSQL (the `db_url` fixture runs each test on both)."""

from __future__ import annotations

from datetime import date

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from aistock_core.db import Base, Database
from aistock_core.db.models import BarPartition, Instrument
from aistock_core.errors import ConfigError


@pytest.fixture
def db(db_url):
    database = Database(db_url)
    yield database
    database.dispose()


def _versions(db: Database) -> set[str]:
    with db.engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def test_migrations_create_every_model_table(db):
    tables = set(db.table_names())
    assert {"instruments", "bar_partitions", "alembic_version"} <= tables
    assert set(Base.metadata.tables) <= tables


def test_migrations_match_the_models(db):
    """Every domain's Alembic branch creates exactly what its models declare (no autogenerate diff)."""
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_every_branch_head_is_applied(db):
    heads = set(ScriptDirectory.from_config(db.alembic_config()).get_heads())
    assert "0001_market" in {rev.revision for rev in ScriptDirectory.from_config(db.alembic_config()).walk_revisions()}
    assert _versions(db) == heads


def test_migrate_twice_is_a_no_op(db):
    with db.session() as s:
        s.add(Instrument(code="600000.SH", board="sh_main", source="test"))
    before = (_versions(db), sorted(db.table_names()))
    db.migrate()
    db.migrate()
    assert (_versions(db), sorted(db.table_names())) == before
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Instrument)) == 1


def test_a_second_database_object_on_the_same_url_sees_the_schema(db_url):
    first = Database(db_url)
    second = Database(db_url)  # migrations already applied: constructing again must not fail
    assert sorted(second.table_names()) == sorted(first.table_names())
    first.dispose()
    second.dispose()


def test_session_commits_on_success(db):
    with db.session() as s:
        s.add(Instrument(code="600000.SH", board="sh_main", source="test"))
        s.add(BarPartition(dataset="market_bars", trade_date=date(2024, 1, 2), rows=1, path="p", sha256="0" * 64,
                           source="test"))
    with db.session() as s:
        assert s.scalar(select(Instrument.board).where(Instrument.code == "600000.SH")) == "sh_main"
        assert s.scalar(select(func.count()).select_from(BarPartition)) == 1


def test_a_session_that_raises_rolls_back_everything(db):
    with pytest.raises(RuntimeError, match="boom"), db.session() as s:
        s.add(Instrument(code="600000.SH", board="sh_main", source="test"))
        s.flush()  # the row reached the database inside the transaction...
        s.add(BarPartition(dataset="market_bars", trade_date=date(2024, 1, 2), rows=1, path="p", sha256="0" * 64,
                           source="test"))
        s.flush()
        raise RuntimeError("boom")
    with db.session() as s:  # ...and is gone after the rollback, with the other table's row
        assert s.scalar(select(func.count()).select_from(Instrument)) == 0
        assert s.scalar(select(func.count()).select_from(BarPartition)) == 0


def test_a_constraint_violation_rolls_back_the_whole_transaction(db):
    with pytest.raises(IntegrityError), db.session() as s:
        s.add(Instrument(code="000001.SZ", board="sz_main", source="test"))
        for _ in range(2):
            s.add(BarPartition(dataset="market_bars", trade_date=date(2024, 1, 2), rows=1, path="p",
                               sha256="0" * 64, source="test"))
        s.flush()
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Instrument)) == 0


def test_sqlite_pragmas_and_parent_directory(tmp_path):
    path = tmp_path / "nested" / "dir" / "app.db"
    db = Database(f"sqlite:///{path}")
    assert path.is_file()
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000
    db.dispose()


def test_plain_postgresql_url_gets_the_psycopg2_driver():
    db = Database("postgresql://user:secret@db.invalid/aistock", migrate=False)
    assert db.url.drivername == "postgresql+psycopg2"
    assert "secret" not in repr(db)
    db.dispose()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "invalid database URL 'not a url'"),
        ("nosuchdialect://x/y", "cannot use database URL 'nosuchdialect://x/y'"),
        ("postgresql://postgres:pw@127.0.0.1:1/none", r"cannot connect to database .*:\*\*\*@127\.0\.0\.1:1/none.*"
                                                      r"AISTOCK_DATABASE_URL"),
    ],
)
def test_invalid_url_is_a_config_error(url, message):
    with pytest.raises(ConfigError, match=message):
        Database(url)


_OPEN_AND_LIST = (
    "import sys; from aistock_core.db import Database; db = Database(sys.argv[1]); "
    "print(','.join(sorted(db.table_names()))); db.dispose()"
)


def test_concurrent_first_migrations_do_not_race(db_url):
    """Steps of one Dagster run open a fresh database at the same moment (separate processes); all must find it
    at head instead of failing on "table already exists"."""
    import subprocess
    import sys

    procs = [
        subprocess.Popen([sys.executable, "-c", _OPEN_AND_LIST, db_url], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err for _, err in outputs]
    tables = {out.strip() for out, _ in outputs}
    assert len(tables) == 1
    assert {"alembic_version", "instruments", "bar_partitions"} <= set(tables.pop().split(","))

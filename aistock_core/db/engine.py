"""`Database`: engine, transactional sessions and automatic migrations for the app DB.

SQLite (the default, a file under ``AISTOCK_HOME``) and PostgreSQL (``AISTOCK_DATABASE_URL``) are both
first-class: every test of the database layer runs against both.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from aistock_core.errors import ConfigError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
#: Key of the PostgreSQL advisory lock that serialises migrations across processes (any constant int64).
_PG_MIGRATION_LOCK = 0x41_49_53_54_4F_43_4B  # "AISTOCK"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """WAL so Dagster runs and the CLI can read while a run writes; FKs on; wait rather than fail on locks."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class Database:
    """One app database. ``migrate=True`` (the default) brings the schema to head on construction."""

    def __init__(self, url: str, *, migrate: bool = True, echo: bool = False) -> None:
        try:
            parsed = make_url(url)
        except Exception as exc:  # sqlalchemy raises ArgumentError with a terse text
            raise ConfigError(f"invalid database URL {url!r}: {exc}") from exc
        if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg2")
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        self.url = parsed
        try:
            self.engine: Engine = create_engine(parsed, echo=echo, pool_pre_ping=True)
        except (ArgumentError, NoSuchModuleError, ImportError) as exc:  # unknown dialect or driver not installed
            raise ConfigError(
                f"cannot use database URL {self._safe_url()!r}: {exc}; use sqlite:///path or "
                f"postgresql+psycopg2://user@host/db"
            ) from exc
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if migrate:
            try:
                self.migrate()
            except (OperationalError, InterfaceError) as exc:  # server down, wrong host/port/credentials
                self.engine.dispose()
                first_line = str(exc.orig or exc).strip().splitlines()[0]
                raise ConfigError(
                    f"cannot connect to database {self._safe_url()!r}: {first_line}; check AISTOCK_DATABASE_URL "
                    f"and that the server is running"
                ) from exc

    def _safe_url(self) -> str:
        return self.url.render_as_string(hide_password=True)

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    def __repr__(self) -> str:
        return f"Database({self._safe_url()!r})"

    def alembic_config(self) -> Config:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.attributes["engine"] = self.engine
        return cfg

    def migrate(self) -> None:
        """Apply every pending Alembic migration (idempotent). Each domain is its own branch off 0001, hence "heads".

        Serialised across processes (the steps of one Dagster run start in parallel and all open the DB): a file
        lock beside a SQLite file, a transaction-scoped advisory lock on PostgreSQL. The second process then finds
        the schema at head and migrates nothing, instead of failing on "table already exists".
        """
        with self._migration_lock(), self.engine.begin() as connection:
            if not self.is_sqlite:
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
            cfg = self.alembic_config()
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "heads")

    @contextmanager
    def _migration_lock(self) -> Iterator[None]:
        database = self.url.database if self.is_sqlite else None
        if not database or database == ":memory:":
            yield
            return
        lock_path = Path(database).expanduser().with_suffix(".migrate.lock")
        with open(lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def table_names(self) -> list[str]:
        return inspect(self.engine).get_table_names()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any exception."""
        with self._sessions.begin() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()

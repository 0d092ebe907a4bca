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
from sqlalchemy import Connection, Engine, create_engine, event, inspect, literal_column, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    DatabaseError,
    InterfaceError,
    NoSuchModuleError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from aistock_core.db.base import Base
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


def _first_line(exc: Exception) -> str:
    """The driver's own message, first line only (SQLAlchemy appends SQL and a help link)."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


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
            folder = Path(parsed.database).expanduser().parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # AISTOCK_HOME is a file, or not writable
                raise ConfigError(f"cannot create the folder {folder} of the SQLite database: {exc.strerror}; "
                                  f"check AISTOCK_HOME / AISTOCK_DATABASE_URL") from None
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
            self._check_connection()
            try:
                self.migrate()
            except SQLAlchemyError as exc:  # connected, but the schema cannot be brought to head
                self.engine.dispose()
                raise ConfigError(
                    f"cannot bring database {self._safe_url()!r} to the current schema: {_first_line(exc)}; "
                    f"nothing was changed (the migration runs in one transaction)"
                ) from exc

    def _check_connection(self) -> None:
        """Open one connection, so a server that is down reads as such (and a schema problem does not)."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except (OperationalError, InterfaceError, DatabaseError) as exc:  # down, wrong credentials, not a DB
            self.engine.dispose()
            hint = ("check AISTOCK_HOME / AISTOCK_DATABASE_URL: the file must be an SQLite database in a writable "
                    "folder" if self.is_sqlite else "check AISTOCK_DATABASE_URL and that the server is running")
            raise ConfigError(f"cannot connect to database {self._safe_url()!r}: {_first_line(exc)}; {hint}") from exc

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

        All or nothing: every pending migration runs in one transaction, so a process killed half-way leaves the
        schema as it was. PostgreSQL has transactional DDL; Python's sqlite3 driver commits each DDL statement
        on its own, so SQLite migrates on a connection in driver autocommit mode with an explicit ``BEGIN``
        (SQLAlchemy's documented recipe), which makes SQLite's own transactional DDL apply. A schema half made by
        an older version (tables but no ``alembic_version``) is dropped when its tables are empty, else refused.

        Serialised across processes (the steps of one Dagster run start in parallel and all open the DB): a file
        lock beside a SQLite file, a transaction-scoped advisory lock on PostgreSQL. The second process then finds
        the schema at head and migrates nothing, instead of failing on "table already exists".
        """
        engine = self._transactional_sqlite_engine() if self.is_sqlite else self.engine
        try:
            with self._migration_lock(), engine.begin() as connection:
                if not self.is_sqlite:
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
                self._clear_half_made_schema(connection)
                cfg = self.alembic_config()
                cfg.attributes["connection"] = connection
                command.upgrade(cfg, "heads")
        finally:
            if engine is not self.engine:
                engine.dispose()

    def _transactional_sqlite_engine(self) -> Engine:
        """A one-connection SQLite engine whose transactions are real ``BEGIN … COMMIT`` blocks, DDL included."""
        engine = create_engine(self.url, poolclass=NullPool)

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection, record) -> None:
            _sqlite_pragmas(dbapi_connection, record)
            dbapi_connection.isolation_level = None  # the driver stops opening/committing transactions itself

        @event.listens_for(engine, "begin")
        def _begin(connection) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")  # take the write lock now, not at the first write

        return engine

    def _clear_half_made_schema(self, connection: Connection) -> None:
        """Drop our tables left without ``alembic_version`` by an interrupted first migration of an older version,
        when they hold no rows; refuse (naming the tables) when they do, since that is someone's data."""
        from aistock_core.db import models  # noqa: F401  (registers every table on Base.metadata)

        present = set(inspect(connection).get_table_names())
        if "alembic_version" in present:
            return
        ours = [t for t in reversed(Base.metadata.sorted_tables) if t.name in present]
        if not ours:
            return
        filled = [t.name for t in ours
                  if connection.execute(select(literal_column("1")).select_from(t).limit(1)).first() is not None]
        if filled:
            raise ConfigError(
                f"database {self._safe_url()!r} holds aistock tables ({', '.join(sorted(filled))}) with rows but no "
                f"alembic_version, so its schema version is unknown; restore a backup or point AISTOCK_DATABASE_URL/"
                f"AISTOCK_HOME at a new database"
            )
        for table in ours:
            table.drop(connection)

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

"""Idempotent writes by natural key: ``INSERT .. ON CONFLICT (key) DO UPDATE`` on SQLite and PostgreSQL.

Every write path of the app DB must be safe to repeat (a Dagster run retried after a crash, a CLI command run
twice), so rows are keyed by what they *are* (``dataset + trade_date``, an instrument ``code``), never by a
surrogate id. Both supported dialects speak the same ``ON CONFLICT`` clause; SQLAlchemy builds it through the
dialect's own `insert`, which is why this module dispatches on the dialect instead of using a portable insert.

Rows are validated in full before anything is sent (unknown columns, missing or NULL key values: a NULL never
conflicts, so it would silently duplicate), deduplicated by key (the last row wins: PostgreSQL refuses to touch
the same row twice in one statement), then executed in chunks inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Table, UniqueConstraint
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Session

from aistock_core.errors import ConfigError, DataError

#: Rows per statement. Both dialects batch an executemany into multi-row VALUES; the chunk bounds memory and
#: stays far below SQLite's 32766 bound-parameter limit for tables of up to ~60 columns.
DEFAULT_CHUNK_SIZE = 500

_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}

Rows = Iterable[Mapping[str, Any]] | pd.DataFrame
Target = type[DeclarativeBase] | Table


def _table_of(target: Target) -> Table:
    table = target if isinstance(target, Table) else getattr(target, "__table__", None)
    if not isinstance(table, Table):
        raise ConfigError(f"upsert target must be an ORM model or a Table, got {target!r}")
    return table


def natural_key(table: Table) -> tuple[str, ...]:
    """The columns that identify a row: the table's single unique constraint, else its primary key.

    A table with a surrogate ``id`` and a unique constraint (``bar_partitions``) is keyed by the constraint;
    a table whose primary key *is* the natural key (``instruments.code``) by the primary key. Two or more
    unique constraints are ambiguous: pass ``key=`` explicitly.
    """
    uniques = [c for c in table.constraints if isinstance(c, UniqueConstraint)]
    if len(uniques) == 1:
        return tuple(col.name for col in uniques[0].columns)
    if len(uniques) > 1:
        raise ConfigError(
            f"table {table.name!r} has {len(uniques)} unique constraints; pass key=(...) to upsert to say which "
            f"one identifies a row"
        )
    return tuple(col.name for col in table.primary_key.columns)


def _records(rows: Rows) -> list[dict[str, Any]]:
    """Plain dicts with native Python values; NaN/NaT become None (NULL), as a database expects."""
    if isinstance(rows, pd.DataFrame):
        frame = rows.reset_index() if any(name is not None for name in rows.index.names) else rows
        frame = frame.astype(object).where(frame.notna(), None)
        return frame.to_dict(orient="records")
    return [dict(row) for row in rows]


def _on_update_values(table: Table, given: set[str], key: Sequence[str]) -> dict[str, Any]:
    """SQL for columns with ``onupdate`` (``updated_at``) that the rows do not set.

    ``ON CONFLICT DO UPDATE`` bypasses the ORM, so without this an updated row would keep its old timestamp.
    """
    values: dict[str, Any] = {}
    for col in table.columns:
        default = col.onupdate
        if col.name in given or col.name in key or default is None:
            continue
        if default.is_clause_element or default.is_scalar:
            values[col.name] = default.arg
    return values


def _validate(
    table: Table, records: list[dict[str, Any]], key: Sequence[str], update: Sequence[str] | None
) -> set[str]:
    """Check every row before anything is written; return the column set the rows carry."""
    known = set(table.columns.keys())
    bad_key = [k for k in key if k not in known]
    if bad_key:
        raise ConfigError(f"upsert key {bad_key} not columns of table {table.name!r}; columns: {sorted(known)}")
    columns = set(records[0])
    unknown = sorted(columns - known)
    if unknown:
        raise DataError(f"upsert into {table.name!r}: unknown column(s) {unknown}; columns: {sorted(known)}")
    missing_key = [k for k in key if k not in columns]
    if missing_key:
        raise DataError(f"upsert into {table.name!r}: rows lack key column(s) {missing_key} of key {list(key)}")
    for pos, record in enumerate(records):
        if set(record) != columns:
            raise DataError(
                f"upsert into {table.name!r}: row {pos} has columns {sorted(record)}, row 0 has {sorted(columns)}; "
                f"give every row the same columns"
            )
        nulls = [k for k in key if record[k] is None]
        if nulls:
            raise DataError(
                f"upsert into {table.name!r}: row {pos} has NULL key column(s) {nulls}; a NULL key never "
                f"conflicts and would insert a duplicate"
            )
    if update is not None:
        not_given = sorted(set(update) - columns)
        if not_given:
            raise DataError(f"upsert into {table.name!r}: update column(s) {not_given} are not in the rows")
    return columns


def _dedupe(records: list[dict[str, Any]], key: Sequence[str]) -> list[dict[str, Any]]:
    """One row per key, the last occurrence winning, in first-seen order."""
    by_key: dict[tuple, dict[str, Any]] = {}
    for record in records:
        by_key[tuple(record[k] for k in key)] = record
    return list(by_key.values())


def _dialect_name(conn: Session | Connection) -> str:
    bind = conn.get_bind() if isinstance(conn, Session) else conn
    return bind.dialect.name


def upsert(
    conn: Session | Connection,
    target: Target,
    rows: Rows,
    *,
    key: Sequence[str] | None = None,
    update: Sequence[str] | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> int:
    """Insert ``rows`` into ``target``, updating the rows whose natural key already exists.

    ``conn``: a `Session` (from ``Database.session()``) or a `Connection`; the writes join its transaction, so
    an error later in the caller's block rolls them back too. ``key``: the conflict columns (default:
    `natural_key`). ``update``: the columns to overwrite on conflict (default: every column the rows carry
    except the key; ``()`` = insert new rows only, leave existing ones alone). Columns with ``onupdate``
    (``updated_at``) are refreshed on conflict unless the rows set them. Returns the number of distinct rows
    written (inserted or updated).
    """
    if chunk_size <= 0:
        raise ConfigError(f"chunk_size must be positive, got {chunk_size}")
    table = _table_of(target)
    dialect = _dialect_name(conn)
    make_insert = _INSERTS.get(dialect)
    if make_insert is None:
        raise ConfigError(f"upsert supports {sorted(_INSERTS)}, not the {dialect!r} dialect")
    records = _records(rows)
    if not records:
        return 0
    key = tuple(key) if key is not None else natural_key(table)
    columns = _validate(table, records, key, update)
    records = _dedupe(records, key)

    stmt = make_insert(table)
    to_update = [c for c in (update if update is not None else sorted(columns)) if c not in key]
    if update is not None and not to_update:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(key))
    else:
        set_: dict[str, Any] = {c: stmt.excluded[c] for c in to_update}
        set_.update(_on_update_values(table, columns, key))
        if not set_:  # rows carry only the key: nothing to change, but the conflict must not raise
            stmt = stmt.on_conflict_do_nothing(index_elements=list(key))
        else:
            stmt = stmt.on_conflict_do_update(index_elements=[table.c[k] for k in key], set_=set_)
    # RETURNING is not read: it is what lets SQLAlchemy batch an ON CONFLICT executemany into multi-row VALUES
    # ("insertmanyvalues"); without it each row is its own round trip (3x slower on PostgreSQL, see
    # benchmarks/bench_upsert.py).
    stmt = stmt.returning(*(table.c[k] for k in key))
    for start in range(0, len(records), chunk_size):
        conn.execute(stmt, records[start : start + chunk_size])
    return len(records)


__all__ = ["DEFAULT_CHUNK_SIZE", "natural_key", "upsert"]

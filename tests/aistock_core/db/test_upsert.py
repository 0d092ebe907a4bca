"""`upsert`: idempotent writes by natural key, on SQLite and PostgreSQL (the `db_url` fixture runs both)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, UniqueConstraint, select

from aistock_core.db import Database
from aistock_core.db.models import BarPartition, Instrument
from aistock_core.db.upsert import natural_key, upsert
from aistock_core.errors import ConfigError, DataError


@pytest.fixture
def db(db_url):
    database = Database(db_url)
    yield database
    database.dispose()


def _partition(day: str, rows: int, sha: str = "a" * 64) -> dict:
    return {"dataset": "market_bars", "trade_date": date.fromisoformat(day), "rows": rows,
            "path": f"store/market_bars/{day}.parquet", "sha256": sha, "source": "synthetic"}


def _partitions(db: Database) -> list[tuple]:
    with db.session() as s:
        return s.execute(
            select(BarPartition.dataset, BarPartition.trade_date, BarPartition.rows, BarPartition.sha256,
                   BarPartition.id)
            .order_by(BarPartition.trade_date)
        ).all()


def test_natural_key_prefers_the_unique_constraint_over_a_surrogate_id():
    assert natural_key(BarPartition.__table__) == ("dataset", "trade_date")
    assert natural_key(Instrument.__table__) == ("code",)


def test_bar_partition_upsert_is_idempotent_and_updates_in_place(db):
    rows = [_partition("2024-01-02", 300), _partition("2024-01-03", 299)]
    with db.session() as s:
        assert upsert(s, BarPartition, rows) == 2
    first = _partitions(db)
    with db.session() as s:  # the same rows again: nothing new
        upsert(s, BarPartition, rows)
    assert _partitions(db) == first

    with db.session() as s:  # a rewrite of one day changes that row only, keeping its id
        upsert(s, BarPartition, [_partition("2024-01-03", 301, sha="b" * 64), _partition("2024-01-04", 298)])
    after = _partitions(db)
    assert [(r.trade_date, r.rows, r.sha256) for r in after] == [
        (date(2024, 1, 2), 300, "a" * 64),
        (date(2024, 1, 3), 301, "b" * 64),
        (date(2024, 1, 4), 298, "a" * 64),
    ]
    assert after[1].id == first[1].id


def test_instrument_upsert_from_a_dataframe_with_nulls(db):
    frame = pd.DataFrame({
        "code": ["600000.SH", "688001.SH"],
        "board": ["sh_main", "star"],
        "list_date": [date(1999, 11, 10), date(2019, 7, 22)],
        "delist_date": [None, pd.NaT],
        "source": "synthetic",
    })
    with db.session() as s:
        assert upsert(s, Instrument, frame) == 2
    with db.session() as s:
        upsert(s, Instrument, frame.assign(board=["sh_main", "star_updated"]))
        query = select(Instrument.code, Instrument.board, Instrument.delist_date).order_by(Instrument.code)
        got = s.execute(query).all()
    assert got == [("600000.SH", "sh_main", None), ("688001.SH", "star_updated", None)]


def test_duplicate_keys_in_one_call_keep_the_last_row(db):
    rows = [_partition("2024-01-02", 1), _partition("2024-01-02", 2), _partition("2024-01-02", 3)]
    with db.session() as s:
        assert upsert(s, BarPartition, rows) == 1
    assert [r.rows for r in _partitions(db)] == [3]


def test_chunking_writes_every_row(db):
    days = pd.bdate_range("2023-01-02", periods=257)
    rows = [_partition(f"{d:%Y-%m-%d}", i) for i, d in enumerate(days)]
    with db.session() as s:
        assert upsert(s, BarPartition, rows, chunk_size=50) == 257
    got = _partitions(db)
    assert len(got) == 257
    assert [r.rows for r in got] == list(range(257))


def test_update_empty_inserts_new_rows_and_leaves_existing_ones(db):
    with db.session() as s:
        upsert(s, BarPartition, [_partition("2024-01-02", 10)])
    with db.session() as s:
        upsert(s, BarPartition, [_partition("2024-01-02", 99), _partition("2024-01-03", 11)], update=())
    assert [r.rows for r in _partitions(db)] == [10, 11]


def test_update_subset_overwrites_only_the_named_columns(db):
    with db.session() as s:
        upsert(s, BarPartition, [_partition("2024-01-02", 10)])
    with db.session() as s:
        upsert(s, BarPartition, [_partition("2024-01-02", 20, sha="c" * 64)], update=["rows"])
    row = _partitions(db)[0]
    assert (row.rows, row.sha256) == (20, "a" * 64)


def test_upsert_joins_the_callers_transaction(db):
    with pytest.raises(RuntimeError), db.session() as s:
        upsert(s, BarPartition, [_partition("2024-01-02", 10)])
        raise RuntimeError("later step failed")
    assert _partitions(db) == []


def test_explicit_key_on_a_plain_table(db):
    table = Table("upsert_probe", MetaData(), Column("id", Integer, primary_key=True),
                  Column("name", String(8)), Column("value", Integer), UniqueConstraint("name"))
    table.create(db.engine)
    with db.session() as s:
        upsert(s, table, [{"name": "x", "value": 1}], key=["name"])
        upsert(s, table, [{"name": "x", "value": 2}, {"name": "y", "value": 3}], key=["name"])
        got = s.execute(select(table.c.name, table.c.value).order_by(table.c.name)).all()
    assert got == [("x", 2), ("y", 3)]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{**_partition("2024-01-02", 1), "colour": "red"}], "unknown column(s) ['colour']"),
        ([{k: v for k, v in _partition("2024-01-02", 1).items() if k != "trade_date"}], "lack key column(s)"),
        ([{**_partition("2024-01-02", 1), "trade_date": None}], "row 0 has NULL key column(s) ['trade_date']"),
        ([_partition("2024-01-02", 1), {"dataset": "x", "trade_date": date(2024, 1, 3)}], "row 1 has columns"),
    ],
)
def test_bad_rows_raise_before_anything_is_written(db, rows, message):
    good = _partition("2024-01-05", 7)
    with pytest.raises(DataError) as info, db.session() as s:
        upsert(s, BarPartition, [good])
        upsert(s, BarPartition, rows)
    assert message in str(info.value)
    assert "bar_partitions" in str(info.value)
    assert _partitions(db) == []


def test_config_errors(db):
    with db.session() as s:
        with pytest.raises(ConfigError, match="chunk_size must be positive"):
            upsert(s, BarPartition, [_partition("2024-01-02", 1)], chunk_size=0)
        with pytest.raises(ConfigError, match="not columns of table"):
            upsert(s, BarPartition, [_partition("2024-01-02", 1)], key=["nope"])
        with pytest.raises(ConfigError, match="ORM model or a Table"):
            upsert(s, object(), [_partition("2024-01-02", 1)])
        assert upsert(s, BarPartition, []) == 0


def test_conflict_refreshes_onupdate_timestamps(db):
    from datetime import UTC, datetime

    old = datetime(2001, 1, 1, tzinfo=UTC)
    row = {"code": "600000.SH", "board": "sh_main", "source": "synthetic"}
    with db.session() as s:
        upsert(s, Instrument, [{**row, "updated_at": old}])
        assert s.execute(select(Instrument.updated_at)).scalar_one().year == 2001
    with db.session() as s:
        upsert(s, Instrument, [{**row, "source": "qlib"}])
        stamp, source = s.execute(select(Instrument.updated_at, Instrument.source)).one()
    assert source == "qlib"
    assert stamp.year >= 2024


def test_each_chunk_is_one_multi_row_statement(db):
    """ON CONFLICT executemany is batched into multi-row VALUES, not sent row by row (the benchmarked path)."""
    from sqlalchemy import event

    statements: list[str] = []

    def count(conn, cursor, statement, params, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO BAR_PARTITIONS"):
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    days = pd.bdate_range("2020-01-01", periods=900)
    with db.session() as s:
        upsert(s, BarPartition, [_partition(f"{d:%Y-%m-%d}", i) for i, d in enumerate(days)], chunk_size=300)
    event.remove(db.engine, "before_cursor_execute", count)
    assert len(statements) == 3
    assert all(stmt.count("ON CONFLICT") == 1 for stmt in statements)
    assert all(stmt.count("), (") == 299 for stmt in statements)  # 300 rows per VALUES clause
    assert len(_partitions(db)) == 900

"""`aistock_core.data.ledger`: idempotent upserts of bar partitions and instruments, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from sqlalchemy import func, select

from aistock_core.data.ledger import record_partition, upsert_instruments
from aistock_core.db import Database
from aistock_core.db.models import BarPartition, Instrument
from aistock_core.errors import DataError

SHA_A, SHA_B = "a" * 64, "b" * 64


def test_record_partition_is_one_row_per_dataset_and_day(db_url):
    db = Database(db_url)
    try:
        kw = {"dataset": "market_bars", "trade_date": date(2024, 1, 2), "path": "/s/p", "source": "t"}
        record_partition(db, rows=10, sha256=SHA_A, **kw)
        again = record_partition(db, rows=12, sha256=SHA_B, **kw)
        record_partition(db, rows=3, sha256=SHA_A, **{**kw, "dataset": "index_bars"})
        assert (again.rows, again.sha256) == (12, SHA_B), "a rewrite updates the row it replaces"
        with db.session() as s:
            assert s.scalar(select(func.count()).select_from(BarPartition)) == 2
    finally:
        db.dispose()


def test_record_partition_refuses_a_bad_checksum(db_url):
    db = Database(db_url)
    try:
        with pytest.raises(DataError, match="64 hex"):
            record_partition(db, dataset="x", trade_date=date(2024, 1, 2), rows=1, path="p", sha256="abc",
                             source="t")
        with db.session() as s:
            assert s.scalar(select(func.count()).select_from(BarPartition)) == 0
    finally:
        db.dispose()


def test_upsert_instruments_updates_delisting(db_url):
    db = Database(db_url)
    try:
        table = pd.DataFrame({"code": ["600000.SH", "000001.SZ"], "board": ["sh_main", "sz_main"],
                              "list_date": [date(2000, 1, 4), date(1991, 4, 3)], "delist_date": [None, None]})
        assert upsert_instruments(db, table, source="t") == 2
        table.loc[1, "delist_date"] = date(2024, 6, 28)
        upsert_instruments(db, table, source="t2")
        with db.session() as s:
            rows = {r.code: r for r in s.scalars(select(Instrument))}
        assert len(rows) == 2 and rows["000001.SZ"].delist_date == date(2024, 6, 28)
        assert rows["600000.SH"].delist_date is None and rows["600000.SH"].source == "t2"
        with pytest.raises(DataError, match="more than once"):
            upsert_instruments(db, pd.concat([table, table]), source="t")
    finally:
        db.dispose()

"""The app-DB side of market data: the instrument table and the ledger of written bar partitions.

Both writes are upserts by natural key (``code``; ``(dataset, trade_date)``) through `aistock_core.db.upsert`,
in one transaction, so a re-run (or two runs racing on one partition) leaves exactly one row.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
from sqlalchemy import select

from aistock_core.db import Database
from aistock_core.db.models import BarPartition, Instrument
from aistock_core.db.upsert import upsert
from aistock_core.errors import DataError

_INSTRUMENT_COLUMNS = ("code", "board", "list_date", "delist_date")


def record_partition(
    db: Database, *, dataset: str, trade_date: date, rows: int, path: str, sha256: str, source: str
) -> BarPartition:
    """Upsert the ledger row of one written partition and return it as stored."""
    if len(sha256) != 64:
        raise DataError(f"sha256 of {dataset} {trade_date} must be 64 hex characters, got {sha256!r}")
    values = {"dataset": dataset, "trade_date": trade_date, "rows": int(rows), "path": str(path),
              "sha256": sha256, "source": source}
    with db.session() as session:
        upsert(session, BarPartition, [values])
        return session.scalars(
            select(BarPartition).where(BarPartition.dataset == dataset, BarPartition.trade_date == trade_date)
        ).one()


def upsert_instruments(db: Database, table: pd.DataFrame, source: str) -> int:
    """Upsert every row of an instrument table (`aistock_core.data.bars.instrument_table`); returns the count."""
    missing = [c for c in _INSTRUMENT_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(f"instrument table lacks column(s) {missing}; build it with bars.instrument_table")
    if table["code"].duplicated().any():
        dup = table.loc[table["code"].duplicated(), "code"].iloc[0]
        raise DataError(f"instrument table lists {dup} more than once; one row per code")
    records = [
        {"code": code, "board": board, "list_date": _date(listed), "delist_date": _date(delisted), "source": source}
        for code, board, listed, delisted in table[list(_INSTRUMENT_COLUMNS)].itertuples(index=False, name=None)
    ]
    with db.session() as session:
        return upsert(session, Instrument, records)


def _date(value) -> date | None:
    if value is None or (not isinstance(value, date) and pd.isna(value)):
        return None
    return pd.Timestamp(value).date()

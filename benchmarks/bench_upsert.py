"""Upsert throughput by natural key (`aistock_core.db.upsert`) on SQLite and PostgreSQL, by chunk size.

Run: ``.venv/bin/python benchmarks/bench_upsert.py [--rows 20000] [--pg-url URL]``. For each dialect and chunk
size it times a cold insert of ``--rows`` ledger rows into ``bar_partitions`` and a second upsert of the same
rows (every row conflicts and is updated), each in one transaction, and prints rows per second. PostgreSQL is
skipped when it does not answer; it runs in a private schema that is dropped afterwards.
"""

from __future__ import annotations

import argparse
import tempfile
import uuid
from datetime import date, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text
from timing import timed

from aistock_core.db import Database
from aistock_core.db.models import BarPartition
from aistock_core.db.upsert import upsert

DEFAULT_PG = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


def _rows(n: int, version: int) -> list[dict]:
    """``n`` distinct (dataset, trade_date) keys spread over 16 datasets; ``version`` changes the payload."""
    base = date(2000, 1, 3)
    return [{"dataset": f"ds{i % 16}", "trade_date": base + timedelta(days=i // 16), "rows": i + version,
             "path": f"store/ds{i % 16}/{i}.parquet", "sha256": f"{version:064d}", "source": "bench"}
            for i in range(n)]


def _upsert_all(db: Database, rows: list[dict], chunk: int) -> None:
    with db.session() as s:
        upsert(s, BarPartition, rows, chunk_size=chunk)


def _time_upserts(db: Database, n: int, chunk: int) -> tuple[float, float]:
    with db.session() as s:
        s.execute(text("DELETE FROM bar_partitions"))
    timings = []
    for version in (0, 1):
        rows = _rows(n, version)
        seconds, _ = timed(lambda rows=rows: _upsert_all(db, rows, chunk))
        timings.append(seconds)
    return timings[0], timings[1]


def _pg_schema_url(pg_url: str) -> tuple[str, str] | None:
    try:
        engine = create_engine(pg_url, connect_args={"connect_timeout": 3})
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine.dispose()
    except Exception:  # any connection failure: no PostgreSQL here
        return None
    return f"{pg_url}?options=-csearch_path%3D{schema}", schema


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--chunks", type=int, nargs="+", default=[100, 500, 2000])
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    args = parser.parse_args()

    table = Table(title=f"upsert of {args.rows:,} bar_partitions rows (one transaction each)")
    for col in ("dialect", "chunk", "insert s", "insert rows/s", "re-upsert s", "re-upsert rows/s"):
        table.add_column(col, justify="left" if col == "dialect" else "right")

    targets: list[tuple[str, str, str | None]] = []
    tmp = tempfile.TemporaryDirectory()
    targets.append(("sqlite", f"sqlite:///{Path(tmp.name) / 'bench.db'}", None))
    pg = _pg_schema_url(args.pg_url)
    if pg is not None:
        targets.append(("postgresql", pg[0], pg[1]))
    try:
        for dialect, url, _ in targets:
            db = Database(url)
            for chunk in args.chunks:
                cold, warm = _time_upserts(db, args.rows, chunk)
                table.add_row(dialect, f"{chunk:,}", f"{cold:.3f}", f"{args.rows / cold:,.0f}", f"{warm:.3f}",
                              f"{args.rows / warm:,.0f}")
            db.dispose()
    finally:
        if pg is not None:
            engine = create_engine(args.pg_url)
            with engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{pg[1]}" CASCADE'))
            engine.dispose()
        tmp.cleanup()
    console = Console()
    console.print(table)
    if pg is None:
        console.print(f"PostgreSQL not reachable at {args.pg_url}: skipped")


if __name__ == "__main__":
    main()

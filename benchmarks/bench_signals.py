"""The signals box at demo scale: 10 preview instances × a 50-name TopK rotation on the 300-stock synthetic market.

Run: ``.venv/bin/python benchmarks/bench_signals.py [--instances 10] [--names 50] [--pg-url URL]``. Times each
daily step of the loop for one trading day — generating the 08:00 signals, deriving their outcomes after the
preview engine traded, scoring them at the close, and the evening evaluation of every instance over a 20-session
window — on SQLite and, when it answers, PostgreSQL (a private schema, dropped afterwards). The history the
evaluation reads (20 settled sessions per instance) is built first and not timed.
"""

from __future__ import annotations

import argparse
import tempfile
import uuid
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text
from timing import timed

from aistock_core.data.service import DataService
from aistock_core.data.synthetic import SyntheticMarket
from aistock_core.db import Database
from aistock_core.feedback.analyzer import analyse_day, evaluate_signals
from aistock_core.preview.engine import SignalPreviewEngine
from aistock_core.preview.instances import create_instance
from aistock_core.preview.settle import settle
from aistock_core.signals.daily import generate_day, sync_day

DEFAULT_PG = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


def run(url: str, service: DataService, instances: int, names: int) -> dict[str, float]:
    db = Database(url)
    stocks = [c for c in service.instruments("all") if not c.endswith(".BJ")]
    days = service.calendar.sessions_in_range("2024-03-01", "2024-04-02")[-21:]

    def targets(_, day):
        k = (days.get_loc(day) * 5) % len(stocks)
        return pd.Series(0.95 / names, index=(stocks * 2)[k:k + names])

    for n in range(instances):
        create_instance(db, f"bench{n}", 1e6)
    engine = SignalPreviewEngine(db, service, targets)
    for day in days[:-1]:
        engine.run(day)
        settle(db, service, day)
    day = days[-1]
    scores = pd.Series(range(len(stocks)), index=stocks, dtype=float)
    out = {"generate (08:00)": timed(lambda: generate_day(db, service, day, targets(None, day), scores))[0]}
    engine.run(day)
    settle(db, service, day)
    out["outcomes (final)"] = timed(lambda: sync_day(db, service, day, final=True))[0]
    out["score at the close"] = timed(lambda: evaluate_signals(db, service, day))[0]
    out["evaluation (20 sessions)"] = timed(lambda: analyse_day(db, service, day))[0]
    out["re-run outcomes"] = timed(lambda: sync_day(db, service, day, final=True))[0]
    db.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=10)
    parser.add_argument("--names", type=int, default=50)
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    args = parser.parse_args()
    market = SyntheticMarket(seed=7, n_instruments=300, start="2023-06-01", end="2024-04-30")
    service = DataService(market, quotes=market)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["SQLite"] = run(f"sqlite:///{Path(tmp) / 'bench.db'}", service, args.instances, args.names)
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    try:
        admin = create_engine(args.pg_url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # no server: SQLite only
        Console().print(f"PostgreSQL skipped: {type(exc).__name__}")
    else:
        try:
            results["PostgreSQL"] = run(f"{args.pg_url}?options=-csearch_path%3D{schema}", service,
                                        args.instances, args.names)
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    table = Table(title=f"signals: {args.instances} instances × {args.names} names, one trading day (seconds)")
    table.add_column("step")
    for name in results:
        table.add_column(name, justify="right")
    for step in next(iter(results.values())):
        table.add_row(step, *(f"{r[step]:.3f}" for r in results.values()))
    Console().print(table)


if __name__ == "__main__":
    main()

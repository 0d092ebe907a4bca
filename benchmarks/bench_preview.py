"""Preview at scale on PostgreSQL: one refresh and one settlement of 1,000 instances × 50 holdings, and the
comparison report of 20 instances × 1,500 days.

Run: ``.venv/bin/python benchmarks/bench_preview.py [--instances 1000] [--holdings 50] [--pg-url URL]``. The app
DB lives in a private PostgreSQL schema (dropped afterwards); quotes and closes come from the embedded synthetic
market (300 stocks), so the refresh figure includes the simulated quote request. Targets (issue 10): refresh
≤ 1 s, settlement ≤ 2 s, report ≤ 3 s. Each figure is the best of ``--repeat`` runs after the first (cold) one,
which is printed too.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text
from timing import timed

from aistock_core.data.service import DataService
from aistock_core.data.synthetic import SyntheticMarket
from aistock_core.db import Database
from aistock_core.db.models.preview import PreviewAccount, PreviewPosition, PreviewStrategy
from aistock_core.db.upsert import upsert
from aistock_core.preview.nav import kpis, nav_frame
from aistock_core.preview.refresh import refresh
from aistock_core.preview.report import write_report
from aistock_core.preview.settle import settle

DEFAULT_PG = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
DAY = pd.Timestamp("2024-04-01")


def seed_books(db: Database, service: DataService, instances: int, holdings: int) -> None:
    """``instances`` running instances, each opened on DAY with ``holdings`` positions marked at the previous close."""
    rng = np.random.default_rng(0)
    stocks = np.array([c for c in service.instruments("all")])
    prev = service.get_panel(list(stocks), end=service.calendar.previous(DAY), bars=1, fields=["close"],
                             adjust=None)
    close = pd.Series(prev["close"][-1], index=prev.instruments)
    stocks = stocks[np.isfinite(close.reindex(stocks).to_numpy())]
    picks = np.stack([rng.choice(len(stocks), holdings, replace=False) for _ in range(instances)])
    symbols = stocks[picks.reshape(-1)]
    volume = rng.integers(1, 50, len(symbols)) * 100.0
    price = close.reindex(symbols).to_numpy()
    ids = np.repeat(np.arange(1, instances + 1), holdings)
    with db.session() as s:
        upsert(s, PreviewStrategy, [{"id": i, "name": f"bench-{i}", "initial_capital": 1e7, "status": "running"}
                                    for i in range(1, instances + 1)])
        upsert(s, PreviewPosition, pd.DataFrame({
            "preview_id": ids, "trading_day": DAY.date(), "symbol": symbols, "volume": volume, "avg_cost": price,
            "last_price": price, "market_value": volume * price, "sellable": volume}))
        mv = pd.Series(volume * price).groupby(ids).sum()
        upsert(s, PreviewAccount, pd.DataFrame({
            "preview_id": mv.index, "trading_day": DAY.date(), "cash": 1e7 - mv.to_numpy(),
            "market_value": mv.to_numpy(), "total_value": 1e7}))


def seed_history(db: Database, service: DataService, instances: int, days: int) -> list[int]:
    """``instances`` more instances with ``days`` settled NAV rows each (a random walk)."""
    rng = np.random.default_rng(1)
    sessions = service.calendar.sessions_in_range(end=DAY)[-days:]
    base = 10_000
    ids = list(range(base + 1, base + instances + 1))
    nav = np.cumprod(1 + rng.normal(0.0004, 0.012, (days, instances)), axis=0)
    frame = pd.DataFrame({
        "preview_id": np.tile(ids, days), "trading_day": np.repeat(sessions.date, instances),
        "nav": nav.reshape(-1), "settled": True})
    frame = frame.assign(total_value=frame["nav"] * 1e6, cash=0.0)
    with db.session() as s:
        upsert(s, PreviewStrategy, [{"id": i, "name": f"hist-{i}", "initial_capital": 1e6, "status": "stopped"}
                                    for i in ids])
        upsert(s, PreviewAccount, frame)
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--holdings", type=int, default=50)
    parser.add_argument("--report-instances", type=int, default=20)
    parser.add_argument("--report-days", type=int, default=1500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    args = parser.parse_args()

    market = SyntheticMarket(seed=7, n_instruments=300, start="2017-06-01", end="2024-04-30")
    service = DataService(market, quotes=market)
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(args.pg_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        db = Database(f"{args.pg_url}?options=-csearch_path%3D{schema}")
        setup, _ = timed(lambda: seed_books(db, service, args.instances, args.holdings))
        with db.engine.begin() as conn:  # planner statistics, as autovacuum keeps them on a live database
            conn.execute(text("ANALYZE preview_strategy, preview_position, preview_account"))
        service.get_realtime_snapshot(service.instruments("all")[:1], at=DAY)  # build the market once, untimed
        # One refresh per minute slot, as the sensor runs them (a repeated slot would find nothing to change).
        runs = [timed(lambda k=k: refresh(db, service, DAY + pd.Timedelta(hours=10, minutes=30 + k)))
                for k in range(args.repeat + 1)]
        result = runs[-1][1]
        settles = []
        for k in range(args.repeat + 1):  # each settlement re-marks every holding: an intraday refresh precedes it
            refresh(db, service, DAY + pd.Timedelta(hours=14, minutes=k))
            settles.append(timed(lambda: settle(db, service, DAY)))
        ids = seed_history(db, service, args.report_instances, args.report_days)
        with tempfile.TemporaryDirectory() as tmp:
            def report():
                nav = nav_frame(db, service, ids)
                return write_report(nav, kpis(nav), Path(tmp) / "report.html")
            reports = [timed(report) for _ in range(args.repeat + 1)]
        db.dispose()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    table = Table(title=f"preview on PostgreSQL: {args.instances} instances × {args.holdings} holdings "
                        f"(setup {setup:.1f} s, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    for col in ("step", "cold s", "best s", "target s", "what"):
        table.add_column(col, justify="left" if col in ("step", "what") else "right")
    rows = [
        ("refresh", runs, 1.0, f"{result.positions:,} positions, {result.quotes} quotes, {result.stale} stale"),
        ("settlement", settles, 2.0, f"{settles[-1][1].positions:,} positions at raw closes + NAV figures"),
        ("report", reports, 3.0, f"{args.report_instances} instances × {args.report_days} days, HTML + PNG"),
    ]
    for name, times, target, what in rows:
        best = min(t for t, _ in times[1:])
        table.add_row(name, f"{times[0][0]:.3f}", f"{best:.3f}", f"{target:.1f}", what)
    Console().print(table)


if __name__ == "__main__":
    main()

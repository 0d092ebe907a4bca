"""Feedback at scale: LiveFeedback build + write, its independent recompute, and one optimizer pass.

Run: ``.venv/bin/python benchmarks/bench_feedback.py [--instances 50] [--days 60] [--db-url URL]``. Preview
instances get ``--days`` settled account rows (a random walk) and 20 trades a day seeded straight into the tables;
the benchmark index comes from the embedded synthetic market (300 stocks). Figures: seconds per instance for a
month's LiveFeedback (build, validate, write), for its recompute, and for the whole optimizer pass over all
instances (best of ``--repeat``).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from timing import best_of

from aistock_core.config import Settings
from aistock_core.data.service import DataService
from aistock_core.data.synthetic import SyntheticMarket
from aistock_core.db import Database
from aistock_core.db.models.preview import PreviewAccount, PreviewStrategy, PreviewTrade
from aistock_core.db.upsert import upsert
from aistock_core.feedback.livefeedback import build_feedback, feedback_path, write_feedback
from aistock_core.feedback.periods import make_period
from aistock_core.feedback.proposals import run_optimizer
from aistock_core.feedback.recompute import recompute_mismatches

END = pd.Timestamp("2024-06-28")


def seed(db: Database, days: pd.DatetimeIndex, instances: int) -> None:
    rng = np.random.default_rng(0)
    n = len(days)
    with db.session() as s:
        upsert(s, PreviewStrategy, [{"id": i, "name": f"bench-{i}", "initial_capital": 1e7, "status": "running"}
                                    for i in range(1, instances + 1)])
        values = 1e7 * np.cumprod(1 + 0.0005 + 0.012 * rng.standard_normal((instances, n)), axis=1)
        upsert(s, PreviewAccount, pd.DataFrame({
            "preview_id": np.repeat(np.arange(1, instances + 1), n), "trading_day": np.tile(days.date, instances),
            "cash": 0.0, "total_value": values.reshape(-1), "settled": True}))
        k = 20
        upsert(s, PreviewTrade, pd.DataFrame({
            "preview_id": np.repeat(np.arange(1, instances + 1), n * k),
            "trading_day": np.tile(np.repeat(days.date, k), instances),
            "datetime": np.tile(np.repeat((days + pd.Timedelta(minutes=575)).to_pydatetime(), k), instances),
            "symbol": np.tile([f"{600000 + j:06d}.SH" for j in range(k)], instances * n), "side": "buy",
            "price": 10.0, "volume": 1000.0, "amount": 1e4, "reason": "bench", "slot": "09:35", "status": "filled"}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, default=50)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--db-url", default=None)
    args = parser.parse_args()
    service = DataService(SyntheticMarket(seed=7, n_instruments=300, start="2023-06-01", end=f"{END:%Y-%m-%d}"))
    days = service.calendar.sessions_in_range(end=END)[-args.days:]
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(args.db_url or f"sqlite:///{Path(tmp) / 'bench.db'}")
        seed(db, days, args.instances)
        month = make_period(service.calendar, days[-21], days[-1])
        settings = Settings(home=Path(tmp), feedback_dir=Path(tmp) / "fb")

        def one_file():
            doc = build_feedback(db, service, "preview-1", month)
            write_feedback(doc, feedback_path(settings.feedback_root, doc))
            return doc

        build_s, doc = best_of(one_file, args.repeat, warmup=True)
        check_s, problems = best_of(lambda: recompute_mismatches(db, service, doc), args.repeat, warmup=True)
        optimizer_s, made = best_of(lambda: run_optimizer(db, service, days[-1]), args.repeat)
        table = Table(title=f"feedback: {args.instances} instances × {args.days} days ({db.engine.dialect.name})")
        for col in ("step", "seconds", "note"):
            table.add_column(col)
        table.add_row("LiveFeedback (21 sessions): build+validate+write", f"{build_s:.3f}", "per instance")
        table.add_row("recompute check", f"{check_s:.3f}", f"per file; mismatches: {len(problems)}")
        table.add_row("optimizer pass", f"{optimizer_s:.3f}", f"all instances; {len(made)} proposals")
        Console().print(table)
        db.dispose()


if __name__ == "__main__":
    main()

"""End-of-day market assets: what one trading-day partition costs, piece by piece, and the whole demo.

Run: ``.venv/bin/python benchmarks/bench_market_assets.py [--instruments 300 1000] [--repeat 3]``. For each
market size it times, on a warm synthetic market: building the day's bars frame (`day_bars`), writing the
Parquet partition, the ledger upsert, and one full Dagster materialisation of ``market_bars`` + ``index_bars``
(in-process, ephemeral instance; the seeded market is cached per process, as in the demo). Then
``aistock demo --days 5`` once, cold, in a subprocess (what a user waits for; it includes every box's assets).
Prints a rich table; timings are best of ``--repeat`` after a warm-up.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pandas as pd
from rich.console import Console
from rich.table import Table
from timing import best_of, timed

from aistock_core.data.bars import day_bars
from aistock_core.data.ledger import record_partition
from aistock_core.data.service import DataService
from aistock_core.data.store import ParquetStore
from aistock_core.data.synthetic import SyntheticMarket
from aistock_core.db import Database

ROOT = Path(__file__).resolve().parents[1]


def _best(fn: Callable[[], object], repeat: int) -> float:
    """Best seconds of ``repeat`` calls after a warm-up (lazy arrays, imports, page cache)."""
    return best_of(fn, repeat, warmup=True)[0]


def _bench_size(n: int, repeat: int, work: Path, table: Table) -> None:
    service = DataService(SyntheticMarket(seed=7, n_instruments=n))
    day = service.provider.data_range()[1]
    store = ParquetStore(work / f"store{n}")
    db = Database(f"sqlite:///{work / f'app{n}.db'}")
    frame = day_bars(service, day)
    path, sha, rows = store.write_partition("market_bars", day, frame)
    table.add_row(str(n), "day_bars (frame)", f"{_best(lambda: day_bars(service, day), repeat) * 1e3:.1f}")
    table.add_row(str(n), "write partition",
                  f"{_best(lambda: store.write_partition('market_bars', day, frame), repeat) * 1e3:.1f}")

    def upsert_ledger_row() -> None:
        record_partition(db, dataset="market_bars", trade_date=day.date(), rows=rows, path=str(path), sha256=sha,
                         source="bench")

    table.add_row(str(n), "ledger upsert", f"{_best(upsert_ledger_row, repeat) * 1e3:.1f}")
    db.dispose()

    env = {"AISTOCK_HOME": str(work / f"home{n}"), "AISTOCK_SYNTHETIC_INSTRUMENTS": str(n)}
    os.environ.update(env)
    from aistock_core.config import get_settings

    get_settings.cache_clear()
    from aistock_pipelines.defs.data.assets import index_bars, market_bars
    from aistock_pipelines.demo import QUIET_RUN_CONFIG
    from aistock_pipelines.resources import default_resources

    key = day.strftime("%Y-%m-%d")

    def materialise() -> None:
        result = dg.materialize([market_bars, index_bars], partition_key=key, resources=default_resources(),
                                run_config=QUIET_RUN_CONFIG)
        assert result.success

    table.add_row(str(n), "materialise 1 partition (both assets)", f"{_best(materialise, repeat) * 1e3:.1f}")


def _bench_demo(work: Path, n: int, table: Table) -> None:
    env = {**os.environ, "AISTOCK_HOME": str(work / "demo_home"), "AISTOCK_SYNTHETIC_INSTRUMENTS": str(n)}
    env.pop("DAGSTER_HOME", None)
    elapsed, proc = timed(lambda: subprocess.run(
        [sys.executable, "-m", "aistock_pipelines.cli.main", "demo", "--days", "5"], cwd=ROOT, env=env,
        capture_output=True, text=True))
    status = "" if proc.returncode == 0 else f" (failed: rc {proc.returncode})"
    table.add_row(str(n), f"aistock demo --days 5, cold{status}", f"{elapsed * 1e3:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instruments", type=int, nargs="+", default=[300, 1000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-demo", action="store_true")
    args = parser.parse_args()
    table = Table(title="market assets, one trading day")
    table.add_column("stocks", justify="right")
    table.add_column("step")
    table.add_column("ms", justify="right")
    with tempfile.TemporaryDirectory(prefix="bench_market_") as tmp:
        work = Path(tmp)
        for n in args.instruments:
            _bench_size(n, args.repeat, work, table)
        if not args.skip_demo:
            _bench_demo(work, args.instruments[0], table)
    Console().print(table)
    Console().print(f"pandas {pd.__version__}, dagster {dg.__version__}, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()

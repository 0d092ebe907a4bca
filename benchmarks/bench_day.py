"""One trading day of the whole graph through Dagster, and the whole demo loop.

Run: ``.venv/bin/python benchmarks/bench_day.py [--days 5]``. In a fresh AISTOCK_HOME (the demo market: 300
synthetic names), it first times ``aistock demo --days N`` as a subprocess, cold (what a user waits for after
the install: every asset of every box, N trading days). Then it materialises the newest trading day again
through the ``trading_day_assets`` job (every trading-day asset and every check on them: bars, research state,
factors with their alignment checks, scores, targets, settlement, ...), in process on the demo's instance,
and prints each step's seconds (from the run's event log) and the run's wall time: Dagster's overhead included.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import dagster as dg
import pandas as pd
from rich.console import Console
from rich.table import Table
from timing import timed

STEP_END = {"STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED"}


def step_seconds(instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
    """Seconds from STEP_START to the step's end event, per step key, from the run's event log."""
    starts: dict[str, float] = {}
    out: dict[str, float] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type_value == "STEP_START":
            starts[event.step_key] = entry.timestamp
        elif event.event_type_value in STEP_END and event.step_key in starts:
            out[event.step_key] = entry.timestamp - starts[event.step_key]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=5, help="trading days of the demo run")
    parser.add_argument("--home", type=Path, help="an AISTOCK_HOME the demo already ran in: time the day only")
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="aistock-bench-day-"))
    os.environ["AISTOCK_HOME"] = str(home)
    os.environ.pop("DAGSTER_HOME", None)
    demo_s = None
    if args.home is None:
        aistock = Path(sys.executable).with_name("aistock")
        demo_s, proc = timed(lambda: subprocess.run([str(aistock), "demo", "--days", str(args.days)],
                                                    capture_output=True, text=True))
        if proc.returncode != 0:
            raise SystemExit(f"aistock demo failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")

    from aistock_core.config import get_settings
    from aistock_pipelines.definitions import defs
    from aistock_pipelines.demo import QUIET_RUN_CONFIG, resolve_dagster_home
    from aistock_pipelines.resources import DataServiceResource

    settings = get_settings()
    day = DataServiceResource().get_service().provider.data_range()[1]
    job = defs.resolve_job_def("trading_day_assets")
    with dg.DagsterInstance.from_config(str(resolve_dagster_home(settings))) as instance:
        day_s, result = timed(lambda: job.execute_in_process(
            run_config=QUIET_RUN_CONFIG, instance=instance, partition_key=f"{pd.Timestamp(day):%Y-%m-%d}",
            raise_on_error=False))
        steps = step_seconds(instance, result.run_id)

    table = Table(title=f"one trading day ({day:%Y-%m-%d}) of the whole graph, "
                        f"{settings.synthetic_instruments} names, in process")
    table.add_column("step (asset or check)")
    table.add_column("seconds", justify="right")
    for key, seconds in sorted(steps.items(), key=lambda kv: -kv[1]):
        table.add_row(key, f"{seconds:.2f}")
    table.add_row("sum of steps", f"{sum(steps.values()):.1f}")
    table.add_row("run wall time (Dagster overhead included)", f"{day_s:.1f}", style="bold")
    if demo_s is not None:
        table.add_row(f"`aistock demo --days {args.days}`, cold, subprocess", f"{demo_s:.1f}", style="bold")
    Console().print(table)
    if not result.success:
        raise SystemExit("the day's run failed: see the table's failed step")


if __name__ == "__main__":
    main()

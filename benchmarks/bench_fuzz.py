"""Fuzz and fault figures of the ``aistock`` command line (issue 15): the full table and many kill points.

The fuzz table is tests/fuzz/harness.py's, slow cases included (a stalled or failing results API waited out
through the retries, huge files). The fault harness kills each writing command at ``--kills`` random points
(seeded) on SQLite, and ``catalog sync`` also on PostgreSQL when 127.0.0.1:5432 answers, and checks that the
next run succeeds and leaves exactly what an uninterrupted run leaves.

    python benchmarks/bench_fuzz.py [--kills 12] [--seed 0] [--no-pg]

Prints: cases tried, clear errors (exit 2, one line naming the input, no traceback), state unchanged,
tracebacks, hangs; kills, recovered. Exits 1 if any figure is off.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("AISTOCK_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _pg_available() -> bool:
    """Whether PostgreSQL answers at PG_URL (any driver/connection failure means "not here")."""
    try:
        engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return True
    except Exception:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=12, help="kill points per writing command")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-pg", action="store_true")
    args = parser.parse_args()
    harness = _load("bench_fuzz_harness", ROOT / "tests/fuzz/harness.py")
    peer_module = _load("bench_fuzz_peer", ROOT / "tests/aistock_core/research/peer.py")
    console = Console()
    rng = np.random.default_rng(args.seed)
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="aistock-fuzz-") as tmp:
        began = time.perf_counter()
        world = harness.build_world(Path(tmp) / "world")
        with peer_module.Peer(world.export) as peer:
            world.peer_url = peer.url
            verdicts = [harness.run_case(world, case, peer) for case in harness.all_cases()]
        fuzz_seconds = time.perf_counter() - began
        failures += [f"{v.case}: {v.problem}" for v in verdicts if not (v.clear and v.unchanged) or v.crash]

        new_pg, cleanup = (None, lambda: None) if args.no_pg or not _pg_available() \
            else harness.pg_schemas(PG_URL, "fuzz")
        kills: dict[str, list[bool]] = {}
        began = time.perf_counter()
        try:
            for n, command in enumerate(harness.writing_commands()):
                dialects = [("SQLite", None)] + ([("PostgreSQL", new_pg)] if new_pg and n == 0 else [])
                for dialect, new_db in dialects:
                    label = f"{command.name} [{dialect}]"
                    window = _run_seconds(harness, world, command, Path(tmp) / f"time{n}{dialect}", new_db)
                    for k, delay in enumerate(rng.uniform(0.0, window, args.kills)):
                        ok, detail = harness.kill_and_rerun(world, command, float(delay),
                                                            Path(tmp) / f"kill{n}{dialect}{k}", new_db)
                        kills.setdefault(label, []).append(ok)
                        if not ok:
                            failures.append(f"{label} killed at {delay:.3f} s: {detail}")
        finally:
            cleanup()
        kill_seconds = time.perf_counter() - began

    table = Table(title="Bad input and faults (issue 15)")
    for col in ("figure", "value"):
        table.add_column(col, justify="right" if col == "value" else "left")
    table.add_row("fuzz cases tried", str(len(verdicts)))
    table.add_row("clear errors (exit 2, one line naming the input)", str(sum(v.clear for v in verdicts)))
    table.add_row("state unchanged (files and DB rows)", str(sum(v.unchanged for v in verdicts)))
    table.add_row("tracebacks", str(sum(v.crash for v in verdicts)))
    table.add_row("hangs (no answer in 60 s)", str(sum(v.hang for v in verdicts)))
    table.add_row("slowest case", f"{max(v.outcome.seconds for v in verdicts):.1f} s "
                                   f"({max(verdicts, key=lambda v: v.outcome.seconds).case})")
    table.add_row("fuzz wall time", f"{fuzz_seconds:.0f} s")
    for label, results in kills.items():
        table.add_row(f"killed, then rerun OK: {label}", f"{sum(results)}/{len(results)}")
    table.add_row("fault wall time", f"{kill_seconds:.0f} s")
    console.print(table)
    for failure in failures:
        console.print(f"[red]FAIL[/] {failure}", soft_wrap=True)
    return 1 if failures else 0


def _run_seconds(harness, world, command, work: Path, new_db) -> float:
    """How long one uninterrupted run takes: the window the kill points are drawn from."""
    work.mkdir(parents=True)
    env = {"AISTOCK_HOME": str(work / "home"), **({"AISTOCK_DATABASE_URL": new_db()} if new_db else {})}
    outcome = harness.run_cli(command.argv(world, work), env, work)
    if outcome.exit_code != 0:
        raise RuntimeError(f"{command.name} failed: {outcome.stderr} {outcome.error}")
    return outcome.seconds


if __name__ == "__main__":
    raise SystemExit(main())

"""Data I/O figures against their targets: synthetic generation, Qlib export, and reading the export back.

Run: ``.venv/bin/python benchmarks/bench_data.py [--instruments 500] [--days 1500]``. Prints a rich table
(seconds, target, pass/fail). Timings are best of ``--repeat`` after one warm-up where a warm-up makes sense
(the generation and the first export are measured cold: that is what a user waits for).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table
from timing import best_of, timed

from aistock_core.calendar import xshg_calendar
from aistock_core.data.qlib_bin import QlibBinProvider, write_qlib_dir
from aistock_core.data.service import DataService
from aistock_core.data.synthetic import SyntheticMarket


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instruments", type=int, default=500)
    parser.add_argument("--days", type=int, default=1500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default=None,
                        help="where to write the export (default: the system temp dir); the export is bound by "
                             "file-creation latency, so a loaded disk shows in it (try /dev/shm to compare)")
    args = parser.parse_args()

    sessions = xshg_calendar().sessions_in_range("2018-01-02")[: args.days]
    start, end = sessions[0], sessions[-1]
    shape = f"{args.instruments} × {len(sessions)}"
    rows: list[tuple[str, float, float, str]] = []

    market = SyntheticMarket(seed=7, n_instruments=args.instruments, start=start, end=end)
    service = DataService(market)
    gen_s, _ = timed(lambda: market.load(market.instruments("all")[:1], sessions[:1], ["close"]))
    rows.append((f"synthetic generation {shape}", gen_s, 3.0, ""))

    work = Path(tempfile.mkdtemp(prefix="bench_data_", dir=args.dir))
    try:
        out = work / "qlib"
        export_s, _ = timed(lambda: write_qlib_dir(service, out))
        n_bins = sum(1 for _ in (out / "features").rglob("*.bin"))
        rows.append((f"Qlib export {shape}", export_s, 3.0, f"{n_bins} bins"))

        reader = DataService(QlibBinProvider(out))
        fields = list(reader.provider.fields())
        read_s, frame = best_of(lambda: reader.get_history_window("all", fields=fields), args.repeat, warmup=True)
        assert isinstance(frame, pd.DataFrame)
        rows.append((f"get_history_window {len(fields)} fields {shape} (qlib dir)", read_s, 0.5,
                     f"{len(frame):,} rows, best of {args.repeat}"))
        pv_s, _ = best_of(lambda: service.get_history_window("all", adjust="qfq"), args.repeat, warmup=True)
        rows.append((f"get_history_window qfq {shape} (synthetic)", pv_s, float("nan"),
                     f"best of {args.repeat}"))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    table = Table(title="Data I/O benchmarks")
    for col in ("step", "seconds", "target", "result", "note"):
        table.add_column(col, justify="right" if col in ("seconds", "target") else "left")
    for name, secs, target, note in rows:
        verdict = "—" if target != target else ("[green]pass" if secs <= target else "[red]FAIL")
        table.add_row(name, f"{secs:.3f}", "—" if target != target else f"≤ {target:g}", verdict, note)
    Console().print(table)


if __name__ == "__main__":
    main()

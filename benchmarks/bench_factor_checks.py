"""Factor-check figures: static audit, sandbox start-up and throughput, and the vectorised alignment.

Run: ``.venv/bin/python benchmarks/bench_factor_checks.py [--instruments 300] [--days 250]``. Prints a rich
table (seconds, what was measured). Best of ``--repeat`` after a warm-up, except the sandbox runs, which are
measured as a user meets them (each run is a fresh process: start-up is the point).
"""

from __future__ import annotations

import argparse

import numpy as np
from rich.console import Console
from rich.table import Table
from timing import best_of, timed

from aistock_core.data.service import DataService
from aistock_core.data.synthetic import SyntheticMarket
from aistock_core.demo.factors import DEMO_FACTORS
from aistock_core.factors.alignment import compare
from aistock_core.factors.alpha158 import alpha158_expressions
from aistock_core.factors.audit import audit_source
from aistock_core.factors.engine import compute_frame
from aistock_core.factors.sandbox import run_factor_code, run_factor_codes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instruments", type=int, default=300)
    parser.add_argument("--days", type=int, default=250)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    market = SyntheticMarket(seed=7, n_instruments=args.instruments, start="2021-01-04")
    service = DataService(market)
    dates = service.resolve_dates()[-args.days:]
    start, end = dates[0], dates[-1]
    rows: list[tuple[str, str, float]] = []

    sources = [f.source for f in DEMO_FACTORS]
    t_audit, _ = best_of(lambda: [audit_source(s) for s in sources], args.repeat, warmup=True)
    rows.append(("audit", f"{len(sources)} factor.py files", t_audit))

    migrated = compute_frame(service, "all", alpha158_expressions(), start=start, end=end)
    noise = np.random.default_rng(0).normal(0, 1e-7, migrated.shape)
    reference = (migrated.astype(np.float64) * (1 + noise)).astype(np.float64)
    t_cmp, report = best_of(lambda: compare(migrated, reference, reference_kind="code"), args.repeat, warmup=True)
    rows.append(("alignment compare", f"158 factors × {len(migrated):,} rows, 1 window", t_cmp))
    windows = {f"m{i}": (d0, d1) for i, (d0, d1) in enumerate(zip(dates[::21], [*dates[20::21], end], strict=False))}
    t_win, _ = best_of(lambda: compare(migrated, reference, reference_kind="code", windows=windows), args.repeat,
                       warmup=True)
    rows.append(("alignment compare", f"158 factors × {len(migrated):,} rows, {len(windows)} windows", t_win))

    trivial = ('import pandas as pd\ndf = pd.read_hdf("daily_pv.h5", key="data")\n'
               'df[["close"]].to_hdf("result.h5", key="data")\n')
    t_one, _ = timed(lambda: run_factor_code(trivial, service, "all", start=start, end=end, name="close"))
    rows.append(("sandbox, one run", f"trivial factor, {args.instruments} stocks × {len(dates)} days (h5 incl.)",
                 t_one))
    t_batch, (frame, failures) = timed(lambda: run_factor_codes({f.name: f.source for f in DEMO_FACTORS}, service,
                                                                 "all", start=start, end=end))
    rows.append(("sandbox, batch", f"{frame.shape[1]} demo factors ({len(failures)} failed), shared daily_pv",
                 t_batch))

    table = Table(title=f"Factor checks ({args.instruments} stocks × {len(dates)} sessions)")
    for col in ("what", "workload", "seconds"):
        table.add_column(col, justify="right" if col == "seconds" else "left")
    for what, load, secs in rows:
        table.add_row(what, load, f"{secs:.3f}")
    Console().print(table)
    if not report.ok:  # float noise of 1e-7 must stay within rtol 1e-5: anything else is a bug in `compare`
        Console().print(report.frame().query("status != 'verified'").head())


if __name__ == "__main__":
    main()

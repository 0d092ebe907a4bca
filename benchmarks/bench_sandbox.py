"""Untrusted-code sandbox figures: attacks tried / blocked, and what the OS isolation costs per factor run.

Run: ``.venv/bin/python benchmarks/bench_sandbox.py [--instruments 300] [--years 2] [--repeat 3]``.
The attacks are the project's attack suite (tests/aistock_core/factors/test_sandbox_attacks.py), run through
pytest so there is one list of them: a test that passes is an attack that failed to change anything on the
host. The cost is one demo factor (``mom_5d``, RD-Agent style: reads daily_pv.h5, writes result.h5) on a
shared daily_pv.h5, run in the OS sandbox (``bwrap``) and as a plain child process (``unisolated``), best of
``--repeat`` after a warm-up; the target is at most 1 s of overhead.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console
from rich.table import Table
from timing import best_of

from aistock_core.data.h5 import write_daily_pv
from aistock_core.data.service import DataService
from aistock_core.data.synthetic import SyntheticMarket
from aistock_core.demo.factors import FACTORS_BY_NAME
from aistock_core.factors.sandbox import _input_index, run_factor_file

ATTACKS = Path(__file__).resolve().parents[1] / "tests" / "aistock_core" / "factors" / "test_sandbox_attacks.py"


class _Tally:
    """A pytest plugin counting the attack tests by outcome."""

    def __init__(self) -> None:
        self.outcomes: dict[str, str] = {}

    def pytest_runtest_logreport(self, report) -> None:
        if report.when == "call" or report.outcome != "passed":
            self.outcomes[report.nodeid] = report.outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instruments", type=int, default=300)
    parser.add_argument("--years", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    tally = _Tally()
    pytest.main([str(ATTACKS), "-q", "-p", "no:randomly", "-p", "no:cacheprovider"], plugins=[tally])
    blocked = sum(o == "passed" for o in tally.outcomes.values())

    market = SyntheticMarket(seed=7, n_instruments=args.instruments, start="2021-01-04")
    service = DataService(market)
    dates = service.resolve_dates()[-args.years * 243:]
    factor = FACTORS_BY_NAME["mom_5d"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        daily_pv = write_daily_pv(service, "all", Path(tmp) / "daily_pv.h5", start=dates[0], end=dates[-1])
        daily_pv.chmod(0o444)
        index = _input_index(daily_pv)
        for mode in ("unisolated", "bwrap"):
            seconds, result = best_of(lambda mode=mode: run_factor_file(factor.source, daily_pv, index,
                                                                        name=factor.name, mode=mode),
                                      args.repeat, warmup=True)
            rows.append((mode, seconds, result.values))
    pd.testing.assert_series_equal(rows[0][2], rows[1][2])  # same values either way

    table = Table(title="Untrusted-code sandbox")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("attacks tried (attack-suite tests)", str(len(tally.outcomes)))
    table.add_row("attacks blocked (host unchanged)", str(blocked))
    shape = f"{args.instruments} stocks × {len(dates)} days, {len(index):,} rows"
    for mode, seconds, _ in rows:
        table.add_row(f"{factor.name} run, {mode} ({shape})", f"{seconds:.3f} s")
    table.add_row("overhead of the OS sandbox (target ≤ 1 s)", f"{rows[1][1] - rows[0][1]:+.3f} s")
    Console().print(table)


if __name__ == "__main__":
    main()

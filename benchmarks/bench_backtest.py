"""Backtest speed: 500 instruments × 1500 sessions, TopkDropout(topk 50, n_drop 5).

Targets (issue): Qlib mode ≤ 0.5 s, A-share mode ≤ 1 s, Qlib mode ≥ 70× faster than Qlib 0.9.7's own
backtest on the same Qlib directory and scores (run in the same invocation, in a subprocess). With
``--qlib-days N`` Qlib runs only the first N sessions and its time is extrapolated linearly (its cost per day
is flat: one exchange pass per step), which the table says.

Data: the hand-built Qlib directory of the strategy tests (tests/aistock_core/strategy/conftest.py, random
walks with factor steps, limit days, suspensions, late listings and three delistings), scaled up. Not the
synthetic market: over six years it delists dozens of names, and Qlib's TopkDropout stops rotating for good
once ``n_drop`` unsellable delisted holdings sit at the bottom of its ranking (reproduced faithfully by our Qlib
mode), which would leave both engines idle and time nothing.

Run: ``.venv/bin/python benchmarks/bench_backtest.py [--instruments 500] [--days 1500] [--qlib-days N]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from timing import best_of, timed

from aistock_core.codes import to_qlib
from aistock_core.data.qlib_bin import QlibBinProvider
from aistock_core.data.service import DataService
from aistock_core.strategy.backtest.engine import run_backtest
from aistock_core.strategy.backtest.market import load_market
from aistock_core.strategy.backtest.qlib_mode import QlibExchangeConfig
from aistock_core.strategy.base import ScoreRanking
from aistock_core.strategy.scores import score_grid
from aistock_core.strategy.topk import TopkDropoutStrategy

ROOT = Path(__file__).resolve().parents[1]
EXCHANGE = {"limit_threshold": 0.095, "deal_price": "close", "open_cost": 0.0005, "close_cost": 0.0015, "min_cost": 5}


def load_fixture():
    """The strategy tests' Qlib-directory builder (a test helper, loaded by path)."""
    path = ROOT / "tests/aistock_core/strategy/conftest.py"
    spec = importlib.util.spec_from_file_location("bench_backtest_fixture", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--instruments", type=int, default=500)
    ap.add_argument("--days", type=int, default=1500)
    ap.add_argument("--qlib-days", type=int, default=None, help="run Qlib on the first N sessions and extrapolate")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_backtest_") as tmp:
        run(args, Path(tmp))


def run(args: argparse.Namespace, work: Path) -> None:
    console = Console()

    qdir = work / "qlib"
    # One warm-up session before the window and one after it (Qlib needs the next session to close a step).
    export_s, meta = timed(lambda: load_fixture().build_qlib_dir(qdir, n=args.instruments, days=args.days + 2, seed=7))
    service = DataService(QlibBinProvider(qdir))
    start, end = meta["dates"][1], meta["dates"][-2]
    load_s, market = best_of(lambda: load_market(service, "all", start, end, benchmark="000300.SH"), 1)

    rng = np.random.default_rng(0)
    t_idx, i_idx = np.nonzero(market.listed)
    scores = pd.DataFrame(
        {"score": rng.normal(size=len(t_idx))},
        index=pd.MultiIndex.from_arrays([market.dates[t_idx], market.instruments[i_idx]],
                                        names=["datetime", "instrument"]),
    )
    strategy = TopkDropoutStrategy(topk=50, n_drop=5)
    qlib_s, res_q = best_of(lambda: run_backtest(market, scores, strategy, mode="qlib",
                                                 exchange=QlibExchangeConfig(**EXCHANGE)),
                            args.repeat)
    ashare_s, res_a = best_of(lambda: run_backtest(market, scores, strategy, mode="ashare"), args.repeat)
    # The fixed costs inside "ours": the score frame → (T × N) grid, and ranking every row of it once.
    grid_s, grid = best_of(lambda: score_grid(scores, market.dates, market.instruments), args.repeat)
    rank_s, _ = best_of(lambda: ScoreRanking.of(grid[:-1]), args.repeat)
    ashare_note = f"best of {args.repeat}; {res_a.trade_counts()}"

    ref_s = ref_days = None
    ref_note = "pyqlib not installed"
    if importlib.util.find_spec("qlib") is not None:
        ref_days = min(args.qlib_days or args.days, args.days)
        ref_end = market.dates[ref_days]
        qscores = scores.copy()
        qscores.index = qscores.index.set_levels([to_qlib(c) for c in qscores.index.levels[1]], level=1)
        qscores.to_parquet(work / "scores.parquet")
        spec = {"provider_uri": str(qdir), "score_path": str(work / "scores.parquet"), "out_dir": str(work / "ref"),
                "strategy_kwargs": {"topk": 50, "n_drop": 5}, "start": str(start.date()),
                "end": str(ref_end.date()), "benchmark": "SH000300", "account": 1e8, "exchange_kwargs": EXCHANGE}
        (work / "spec.json").write_text(json.dumps(spec))
        done = subprocess.run([sys.executable, "-m", "aistock_core.strategy.backtest.qlib_reference",
                               str(work / "spec.json")], capture_output=True, text=True)
        if done.returncode == 0:
            ref_s = json.loads((work / "ref" / "timing.json").read_text())["backtest_s"]
            scale = args.days / ref_days
            ref_note = "measured" if ref_days == args.days else f"{ref_days} sessions, extrapolated ×{scale:.2f}"
            ref_s *= scale
            ref = pd.read_parquet(work / "ref" / "report.parquet")
            same = np.allclose(ref["account"], res_q.report["account"].iloc[: len(ref)], rtol=1e-9, atol=0)
            ref_note += "; reports identical" if same else "; REPORTS DIFFER"
        else:
            ref_note = "Qlib run failed: " + done.stderr.strip().splitlines()[-1]

    table = Table(title=f"Backtest, {args.instruments} instruments × {args.days} sessions, TopkDropout(50, 5)")
    for col in ("what", "seconds", "target", "note"):
        table.add_column(col)
    table.add_row("write the Qlib dir", f"{export_s:.2f}", "", "setup, not timed against targets")
    table.add_row("load_market (Qlib bins → arrays)", f"{load_s:.3f}", "", "once per backtest window")
    table.add_row("ours, qlib mode", f"{qlib_s:.3f}", "≤ 0.5", f"best of {args.repeat}; {res_q.trade_counts()}")
    table.add_row("  of which: scores → grid", f"{grid_s:.3f}", "", "validate, convert codes, file by session")
    table.add_row("  of which: rank all rows", f"{rank_s:.3f}", "", "one vectorised argsort, not one per day")
    table.add_row("ours, ashare mode", f"{ashare_s:.3f}", "≤ 1.0", ashare_note)
    if ref_s is not None:
        table.add_row("Qlib 0.9.7 backtest()", f"{ref_s:.2f}", "", ref_note)
        table.add_row("speed-up (Qlib / ours qlib mode)", f"{ref_s / qlib_s:.0f}×", "≥ 70×", "backtest only")
        table.add_row("speed-up incl. our data load", f"{ref_s / (qlib_s + load_s):.0f}×", "",
                      "Qlib's figure includes its quote load")
    else:
        table.add_row("Qlib 0.9.7 backtest()", "-", "", ref_note)
    console.print(table)


if __name__ == "__main__":
    main()

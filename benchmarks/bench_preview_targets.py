"""Target weights of many instances: what a day of ``preview_trades`` spends computing targets.

Run: ``.venv/bin/python benchmarks/bench_preview_targets.py [--days 5]``. On the embedded synthetic market (300
stocks) with 60 sessions of stored ``model_scores`` (random, model ``lgb``), a `TargetEngine` per day (as the
asset builds one) serves the demo's mix of twelve instances: five sharing one catalog-like strategy on the
champion's scores, four top-k variants of the model, the reversal signal without a model, a fee-free twin and the
pipeline's own targets. Figures: the first source of a day (score read + market window + replay), an instance
sharing a computed source (cache), a top-k variant (replay on cached scores: the "milliseconds" target), the
signal source (factor engine), and the whole day of twelve instances.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from timing import timed

from aistock_core.data.service import DataService
from aistock_core.data.store import ParquetStore
from aistock_core.data.synthetic import SyntheticMarket
from aistock_core.strategy.signals import DEFAULT_SIGNAL
from aistock_core.strategy.sources import TargetEngine, TargetSource

BLOCK = {"class": "TopkDropoutStrategy", "kwargs": {"topk": 50, "n_drop": 5}}
MODEL = "lgb@champion"


def demo_mix() -> list[TargetSource]:
    shared = [TargetSource(model=MODEL)] * 5
    variants = [TargetSource(model=MODEL, params={"topk": k, "n_drop": d}) for k, d in ((10, 2), (20, 3), (30, 5),
                                                                                       (50, 10))]
    return [*shared, *variants, TargetSource(params={"signal": DEFAULT_SIGNAL, "topk": 30, "n_drop": 5}),
            TargetSource(model=MODEL, params={"topk": 30, "n_drop": 5}), TargetSource()]


def write_scores(store: ParquetStore, service: DataService, days: pd.DatetimeIndex) -> None:
    rng = np.random.default_rng(0)
    names = service.instruments("all")
    for day in days:
        store.write_partition("model_scores", day, pd.DataFrame({
            "datetime": day, "instrument": names, "score": rng.normal(size=len(names)), "model": "lgb",
            "version": "1"}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=5)
    args = parser.parse_args()
    market = SyntheticMarket(seed=7, n_instruments=300, start="2023-06-01", end="2024-04-30")
    service = DataService(market, quotes=market)
    sessions = service.calendar.sessions_in_range("2024-01-02", "2024-04-30")
    trade_days = sessions[-args.days:]
    rows: dict[str, list[float]] = {k: [] for k in ("first", "shared", "variant", "signal", "day")}
    with tempfile.TemporaryDirectory() as tmp:
        store = ParquetStore(Path(tmp))
        write_scores(store, service, sessions[-(args.days + 61):])
        TargetEngine(service, BLOCK, store=store).weights(TargetSource(params={"signal": DEFAULT_SIGNAL}),
                                                           trade_days[0])  # numba compile, once per install
        variant = TargetSource(model=MODEL, params={"topk": 20, "n_drop": 3})
        signal = TargetSource(params={"signal": DEFAULT_SIGNAL, "topk": 30})
        for day in trade_days:
            engine = TargetEngine(service, BLOCK, store=store)
            for name, source in (("first", TargetSource(model=MODEL)), ("shared", TargetSource(model=MODEL)),
                                 ("variant", variant), ("signal", signal)):
                rows[name].append(timed(lambda e=engine, s=source, d=day: e.weights(s, d))[0])
            fresh = TargetEngine(service, BLOCK, store=store)
            rows["day"].append(timed(lambda e=fresh, d=day: [e.weights(s, d) for s in demo_mix()])[0])
    table = Table(title=f"targets per day, 300 stocks, {args.days} days (load average {os.getloadavg()[0]:.1f} "
                        f"on {os.cpu_count()} CPUs)")
    for col in ("step", "median s", "max s", "what"):
        table.add_column(col, justify="left" if col in ("step", "what") else "right")
    what = {"first": "first source of the day: stored scores (60 days) + market window + TopkDropout replay",
            "shared": "another instance of the same source (cache)",
            "variant": "a top-k variant: replay on the cached scores and market (target: milliseconds)",
            "signal": "the reversal signal through the factor engine (no model)",
            "day": f"all {len(demo_mix())} instances of the demo mix, fresh engine ({fresh.sources} sources)"}
    for name, times in rows.items():
        table.add_row(name, f"{np.median(times):.4f}", f"{max(times):.4f}", what[name])
    Console().print(table)


if __name__ == "__main__":
    main()

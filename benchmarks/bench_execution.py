"""Execution figures: a 300-name rebalance through plan + risk + submit, and the 1,000-fault harness.

Targets (issue 11): plan + risk + submit to the simulated broker for a 300-name rebalance ≤ 100 ms (fills
excluded); 1,000 seeded faults (crashes after persist / after marking submitted / after submit before the
acknowledgement, lost acknowledgements, disconnects, rejects, duplicated and lost trade reports, re-pushes after
reconnects), each crash followed by a re-run: 0 duplicate orders, 0 lost fills, positions and cash equal to the
broker's.

Rows: "plan + risk + submit" is the pure path (portfolio → planner → risk → 300 `submit` calls, nothing
persisted); "+ persistence" is the full `OrderRunner.run` on a SQLite file (reconcile at start and end, intents,
orders and verdicts in one transaction, marks, ids), which is what a real slot costs.

Run: ``.venv/bin/python benchmarks/bench_execution.py [--names 300] [--faults 1000] [--db sqlite:///...]``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from timing import best_of, timed

from aistock_core.config import Settings
from aistock_core.data.factory import build_service
from aistock_core.db import Database
from aistock_core.execution.feed import MinuteFeed
from aistock_core.execution.gateway import OrderRequest
from aistock_core.execution.harness import run_harness
from aistock_core.execution.quotes import market_quotes
from aistock_core.execution.risk import RiskPolicy, TradingState
from aistock_core.execution.runner import OrderRunner
from aistock_core.execution.simulated import SimulatedBroker
from aistock_core.execution.store import ExecutionStore

DAY = pd.Timestamp("2024-07-01")
NOW = pd.Timestamp("2024-07-01 09:35", tz="Asia/Shanghai")


def instance_row(name: str) -> dict:
    return {"name": name, "mode": "paper", "gateway": "simulated", "account_id": name, "capital": 1e9, "loop": None,
            "model": None, "frequency": "daily", "policy": {}, "trading_state": "active"}


def rebalance(data, names: int, db_url: str) -> list[tuple[str, float, int]]:
    universe = data.instruments("all")[:names]
    quotes = market_quotes(data, universe, NOW)
    weights = pd.Series(0.98 / len(universe), index=universe)
    policy = RiskPolicy(max_order_value=1e9, max_order_volume=10**9)
    db = Database(db_url)
    store = ExecutionStore(db)
    feed = MinuteFeed(data)
    rows = []

    def fresh_broker(name: str) -> SimulatedBroker:
        broker = SimulatedBroker(feed, account_id=name, cash=1e9)
        broker.start_day(DAY, universe)
        broker.connect()
        return broker

    def pure() -> int:
        broker = fresh_broker("pure")
        runner = OrderRunner(store, broker, "pure", policy)
        prepared = runner.prepare(DAY, "09:35", weights, quotes, NOW, TradingState.ACTIVE)
        allowed = {v.intent_key for v in prepared.verdicts if v.allowed}
        for o in prepared.plan.orders:
            if o.intent_key in allowed:
                broker.submit(OrderRequest(o.symbol, o.side, o.volume, o.price, o.remark))
        return len(broker.orders)

    store.create_instance(instance_row("pure"))
    seconds, sent = best_of(pure, 5, warmup=True)
    rows.append(("plan + risk + submit (in memory)", seconds, sent))
    counter = iter(range(100))

    def persistent() -> int:
        name = f"run{next(counter)}"
        store.create_instance(instance_row(name))
        broker = fresh_broker(name)
        return OrderRunner(store, broker, name, policy).run(DAY, "09:35", weights, quotes, NOW,
                                                            mode="paper").submitted

    seconds, sent = best_of(persistent, 3, warmup=True)
    rows.append((f"+ persistence and reconciliation ({db.url.get_backend_name()})", seconds, sent))
    db.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, default=300)
    parser.add_argument("--faults", type=int, default=1000)
    parser.add_argument("--db", default=None, help="SQLAlchemy URL (default: a SQLite file in a temp dir)")
    args = parser.parse_args()
    console = Console()
    data = build_service(Settings(synthetic_end="2024-06-28", synthetic_start="2023-01-03",
                                  synthetic_instruments=max(args.names, 40)))
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'bench.db'}"
        table = Table(title=f"{args.names}-name rebalance (target ≤ 100 ms, fills excluded)")
        for col in ("path", "ms", "orders sent"):
            table.add_column(col, justify="right" if col != "path" else "left")
        for label, seconds, sent in rebalance(data, args.names, url):
            table.add_row(label, f"{seconds * 1e3:.1f}", str(sent))
        console.print(table)

        db = Database(args.db or f"sqlite:///{Path(tmp) / 'faults.db'}")
        days = list(data.calendar.sessions_in_range("2023-01-04", "2024-06-28"))  # each needs a previous session
        universe = data.instruments("all")[:30]
        seconds, r = timed(lambda: run_harness(data, ExecutionStore(db), days, universe, n_faults=args.faults,
                                               seed=11, instance=f"faults{np.random.default_rng().integers(1e9)}"))
        db.dispose()
    table = Table(title=f"fault harness: {r.total_faults} faults, {r.runs} runs, {seconds:.0f} s")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for kind, n in sorted(r.faults.items()):
        table.add_row(f"faults: {kind}", str(n))
    table.add_row("broker orders / trades", f"{r.broker_orders} / {r.broker_trades}")
    table.add_row("duplicate orders (target 0)", str(r.duplicate_orders))
    table.add_row("lost fills (target 0)", str(r.lost_fills))
    table.add_row("position mismatches (target 0)", str(r.position_mismatches))
    table.add_row("cash difference, yuan (target < 0.01)", f"{r.cash_difference:.6f}")
    console.print(table)


if __name__ == "__main__":
    main()

"""Fault-injection harness: many seeded faults over paper trading days, each followed by a re-run of the slot.

Faults: the process killed after the intents are persisted, after orders are marked submitted, and after a
submit before its acknowledgement is recorded (`CRASH_POINTS`); from the simulated broker, disconnects at
submission, lost acknowledgements, rejects, duplicated and lost trade reports, and re-pushed reports after a
reconnect; plus disconnects between slots. The figures that must hold: no intent with more than one broker
order, no broker trade missing locally, and positions and cash — rebuilt independently from the initial capital
and the local fills — equal to the broker's. The test runs a small count; `benchmarks/bench_execution.py` 1,000.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from aistock_core.data.service import DataService
from aistock_core.execution.feed import MinuteFeed
from aistock_core.execution.gateway import GatewayHandler
from aistock_core.execution.quotes import market_quotes
from aistock_core.execution.reconcile import reconcile
from aistock_core.execution.risk import RiskPolicy
from aistock_core.execution.runner import CRASH_POINTS, OrderRunner, StoreHandler
from aistock_core.execution.simulated import Faults, SimulatedBroker
from aistock_core.execution.store import ExecutionStore

SLOTS = ("09:35", "10:35", "11:35", "14:05")


class SimulatedCrash(Exception):
    """Stands for the process being killed at a crash point."""


@dataclass
class HarnessResult:
    faults: Counter = field(default_factory=Counter)
    runs: int = 0
    broker_orders: int = 0
    broker_trades: int = 0
    duplicate_orders: int = 0
    lost_fills: int = 0
    position_mismatches: int = 0
    cash_difference: float = 0.0

    @property
    def total_faults(self) -> int:
        return sum(self.faults.values())


def run_harness(data: DataService, store: ExecutionStore, days: list[pd.Timestamp], universe: list[str], *,
                n_faults: int, seed: int = 0, capital: float = 2_000_000.0, instance: str = "harness",
                crash_rate: float = 0.5, fault_rate: float = 0.08) -> HarnessResult:
    """Trade ``days`` (cycling through them again on a fresh account day if more faults are wanted) until at
    least ``n_faults`` faults were injected; return the figures."""
    rng = np.random.default_rng(seed)
    store.create_instance({"name": instance, "mode": "paper", "gateway": "simulated", "account_id": instance,
                           "capital": capital, "loop": None, "model": None, "frequency": "hourly", "policy": {},
                           "trading_state": "active"})
    # Trade reports outnumber orders ~10:1, so their faults are drawn at a tenth of the rate to keep the mix even.
    faults = Faults(disconnect=fault_rate, lost_ack=fault_rate, reject=fault_rate, duplicate_trade=fault_rate / 10,
                    lost_trade=fault_rate / 10, repush_on_reconnect=True)
    broker = SimulatedBroker(MinuteFeed(data), account_id=instance, cash=capital, seed=seed, faults=faults)
    result = HarnessResult()
    all_trades, all_orders = [], []
    for day in days:
        broker.start_day(day, universe)
        broker.connect()
        for slot in SLOTS:
            now = pd.Timestamp(f"{day:%Y-%m-%d} {slot}", tz="Asia/Shanghai")
            broker.advance(now)
            if rng.random() < fault_rate * 4:
                broker.disconnect()
                result.faults["disconnect_between_slots"] += 1
            quotes = market_quotes(data, universe, now)
            tradable = [s for s in universe if np.isfinite(quotes.at[s, "last"])]
            names = rng.choice(tradable, size=min(len(tradable), 8), replace=False)
            weights = pd.Series(rng.dirichlet(np.ones(len(names))) * 0.9, index=names)
            point = CRASH_POINTS[rng.integers(len(CRASH_POINTS))] if rng.random() < crash_rate else None
            _run(store, broker, instance, day, slot, weights, quotes, now, point, result)
            if point is not None:  # the restarted process runs the slot again
                _run(store, broker, instance, day, slot, weights, quotes, now, None, result)
        broker.advance(pd.Timestamp(f"{day:%Y-%m-%d} 15:00", tz="Asia/Shanghai"))
        if not broker.connected:
            broker.connect()
        if isinstance(broker.handler, StoreHandler):
            broker.handler.flush()
        reconcile(store, broker, instance, day, now)
        all_orders += broker.query_orders()
        all_trades += broker.query_trades()
        result.faults.update(broker.injected)
        broker.injected.clear()
        if result.total_faults >= n_faults:
            break
    _figures(store, broker, instance, capital, all_orders, all_trades, result)
    return result


def _run(store, broker, instance, day, slot, weights, quotes, now, point, result: HarnessResult) -> None:
    def crash(at: str) -> None:
        if at == point:
            raise SimulatedCrash(at)

    result.runs += 1
    try:
        OrderRunner(store, broker, instance, RiskPolicy(), crash=crash).run(day, slot, weights, quotes, now,
                                                                             mode="paper")
    except SimulatedCrash as exc:
        result.faults[f"crash_{exc}"] += 1
        broker.set_handler(GatewayHandler())  # the dead process's unwritten reports die with it


def _figures(store: ExecutionStore, broker: SimulatedBroker, instance: str, capital: float, orders, trades,
             result: HarnessResult) -> None:
    """The three figures, computed without the reconciliation code: from the broker's own lists and the fills."""
    per_remark = Counter(o.remark for o in orders)
    result.broker_orders, result.broker_trades = len(orders), len(trades)
    result.duplicate_orders = sum(n - 1 for n in per_remark.values() if n > 1)
    local = {f.broker_trade_id for f in store.fills(instance)}
    result.lost_fills = sum(t.trade_id not in local for t in trades)
    cash, volume = capital, defaultdict(int)
    for f in store.fills(instance):
        sign = 1 if f.side == "buy" else -1
        cash -= sign * f.volume * f.price + f.fee
        volume[f.symbol] += sign * f.volume
    held = {s: p.volume for s, p in broker.query_positions().items()}
    result.position_mismatches = sum(volume.get(s, 0) != held.get(s, 0) for s in set(volume) | set(held))
    result.cash_difference = abs(cash - broker.query_cash())

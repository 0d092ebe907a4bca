"""One slot of one instance end to end, as the CLI and the Dagster order jobs run it.

guards → gateway → reconcile → plan → risk → persist → submit → wait for fills (bounded) → reconcile → close.
The staleness guard refuses a slot run long after its time: a schedule or sensor catching up after downtime
must not trade on a signal meant for an earlier moment of the session.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from aistock_core.data.service import DataService
from aistock_core.errors import ConfigError
from aistock_core.execution.instances import close_gateway, instance_policy, open_gateway, require_can_submit
from aistock_core.execution.intents import normalise_slot
from aistock_core.execution.planner import PlanParams
from aistock_core.execution.quotes import market_quotes
from aistock_core.execution.reconcile import reconcile
from aistock_core.execution.runner import OrderRunner, SlotResult, StoreHandler
from aistock_core.execution.simulated import SimulatedBroker
from aistock_core.execution.store import ExecutionStore


def slot_time(day: pd.Timestamp, slot: str) -> pd.Timestamp:
    hhmm = normalise_slot(slot)
    return pd.Timestamp(f"{pd.Timestamp(day):%Y-%m-%d} {hhmm[:2]}:{hhmm[2:]}", tz="Asia/Shanghai")


def require_fresh(day: pd.Timestamp, slot: str, now: pd.Timestamp, max_lag_minutes: int) -> None:
    """Refuse a slot whose time lies more than ``max_lag_minutes`` before ``now`` (or in the future)."""
    at = slot_time(day, slot)
    lag = (pd.Timestamp(now) - at) / pd.Timedelta(minutes=1)
    if lag > max_lag_minutes or lag < -1:
        raise ConfigError(f"slot {at:%Y-%m-%d %H:%M} is stale or early at {pd.Timestamp(now):%Y-%m-%d %H:%M} "
                          f"({lag:.0f} min; allowed 0..{max_lag_minutes}); not trading on it — run the next slot")


def run_slot(store: ExecutionStore, data: DataService, home: Path, instance: str, day: pd.Timestamp, slot: str,
             weights: pd.Series, *, trading_mode: str, wait_minutes: int = 30,
             plan: PlanParams | None = None) -> SlotResult:
    """Run the slot for real (paper or live per the instance) and persist the paper account afterwards."""
    day = pd.Timestamp(day).normalize()
    inst = store.instance(instance)
    require_can_submit(store, instance, day, data.calendar, trading_mode)
    now = slot_time(day, slot)
    gateway = open_gateway(store, instance, data, home, day)
    try:
        if isinstance(gateway, SimulatedBroker):
            # the paper broker's clock at the slot: its orders match from the minute after they arrive, as on the
            # exchange, never on bars before the slot (and earlier slots' open orders fill up to now first)
            gateway.advance(now)
        universe = sorted(set(weights.index) | set(gateway.snapshot().positions))
        quotes = market_quotes(data, universe, now)
        result = OrderRunner(store, gateway, instance, instance_policy(store, instance), plan=plan).run(
            day, slot, weights, quotes, now, mode=inst.mode)
        if isinstance(gateway, SimulatedBroker) and result.blocked is None:
            until = now + pd.Timedelta(minutes=wait_minutes)
            gateway.advance(until)
            if isinstance(gateway.handler, StoreHandler):
                gateway.handler.flush()
            result.end = reconcile(store, gateway, instance, day, until)
            result.orders = store.orders(instance, day, result.slot)
    finally:
        close_gateway(gateway, home)
    return result

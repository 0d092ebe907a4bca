"""Reconciliation: local orders, fills and the day's book against the broker's; the broker wins.

Run at the start and end of every order run. Repairs (recorded, not blocking): adopting broker order ids and
states for our orders (matched by remark, which survives a lost acknowledgement), marking an order we
submitted but the broker never received as rejected — never re-sending it — and inserting trades we missed
(lost reports). Blocking mismatches: the day's book (opening snapshot + our fills) differs from the broker's
positions or cash, or an order's filled volume differs from the broker's after the repair; they are recorded
as unresolved risk events, and the order run that finds them does not trade.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import pandas as pd

from aistock_core.execution.gateway import Gateway
from aistock_core.execution.states import OrderState, from_qmt_status
from aistock_core.execution.store import ExecutionStore

#: Cash differences below this (yuan) are float noise, not a mismatch.
CASH_TOLERANCE = 0.01


@dataclass(frozen=True)
class Mismatch:
    kind: str
    symbol: str | None
    local: float | str | None
    broker: float | str | None
    blocking: bool

    def as_dict(self) -> dict:
        return {"kind": self.kind, "symbol": self.symbol, "local": self.local, "broker": self.broker,
                "blocking": self.blocking}


@dataclass
class ReconcileResult:
    mismatches: list[Mismatch] = field(default_factory=list)
    ids_adopted: int = 0
    states_synced: int = 0
    lost_orders: int = 0
    fills_recovered: int = 0

    @property
    def blocking(self) -> list[Mismatch]:
        return [m for m in self.mismatches if m.blocking]

    def as_dict(self) -> dict:
        return {"mismatches": [m.as_dict() for m in self.mismatches], "ids_adopted": self.ids_adopted,
                "states_synced": self.states_synced, "lost_orders": self.lost_orders,
                "fills_recovered": self.fills_recovered}


def reconcile(store: ExecutionStore, gateway: Gateway, instance: str, day: pd.Timestamp,
              now: pd.Timestamp) -> ReconcileResult:
    """Bring the local records of ``instance`` on ``day`` in line with the broker; record what differed."""
    result = ReconcileResult()
    remarks = store.remarks(instance, day)
    broker_orders = {o.remark: o for o in gateway.query_orders()}
    for order in store.orders(instance, day):
        b = broker_orders.get(order.remark)
        if b is None:
            if order.state is OrderState.SUBMITTED:
                store.set_state(order.intent_key, OrderState.REJECTED,
                                message="not at the broker after submission (lost on the way); not resent")
                result.lost_orders += 1
            continue
        if order.broker_order_id is None:
            result.ids_adopted += 1
        changed = store.set_state(order.intent_key, from_qmt_status(b.status), broker_order_id=b.broker_order_id,
                                  message=b.message or None, force=True)
        result.states_synced += int(changed)
    for remark, b in broker_orders.items():
        if remark not in remarks:
            result.mismatches.append(Mismatch("unknown_broker_order", b.symbol, None, b.broker_order_id, False))
    result.fills_recovered = store.add_fills(instance, gateway.account_id, day, gateway.query_trades(), remarks)
    for order in store.orders(instance, day):
        b = broker_orders.get(order.remark)
        if b is not None and b.filled_volume != order.filled_volume:
            result.mismatches.append(Mismatch("filled_volume", order.symbol, order.filled_volume, b.filled_volume,
                                              True))
    result.mismatches.extend(_book_mismatches(store, gateway, instance, day))
    _record(store, instance, day, now, result)
    return result


def _book_mismatches(store: ExecutionStore, gateway: Gateway, instance: str, day: pd.Timestamp) -> list[Mismatch]:
    """Opening snapshot + today's fills vs the broker's positions and cash now."""
    snap = gateway.snapshot()
    opening = store.opening_snapshot(instance, day, snap, snap.equity({}))
    volume: dict[str, int] = defaultdict(int, {s: p.volume for s, p in opening.positions.items()})
    cash = opening.cash
    for f in store.fills(instance, day):
        sign = 1 if f.side == "buy" else -1
        volume[f.symbol] += sign * f.volume
        cash -= sign * f.volume * f.price + f.fee
    out = [Mismatch("position", s, volume.get(s, 0), snap.volume(s), True)
           for s in sorted(set(volume) | set(snap.positions)) if volume.get(s, 0) != snap.volume(s)]
    if abs(cash - snap.cash) > CASH_TOLERANCE:
        out.append(Mismatch("cash", None, round(cash, 2), round(snap.cash, 2), True))
    return out


def _record(store: ExecutionStore, instance: str, day: pd.Timestamp, now: pd.Timestamp,
            result: ReconcileResult) -> None:
    stamp = pd.Timestamp(now).isoformat()
    store.record_events([
        {"event_key": f"reconcile|{instance}|{stamp}|{i}", "instance": instance, "trading_day": day.date(),
         "kind": "reconcile", "intent_key": None, "symbol": m.symbol, "allowed": None, "rule": m.kind,
         "message": f"local {m.local} vs broker {m.broker}", "resolved": not m.blocking}
        for i, m in enumerate(result.mismatches)
    ])

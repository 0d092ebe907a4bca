"""Reconciliation: local orders, fills and the day's book against the broker's; the broker wins.

Run at the start and end of every order run. Repairs (recorded, not blocking): adopting broker order ids and
states for our orders (matched by remark, which survives a lost acknowledgement), marking an order we
submitted but the broker never received as rejected — never re-sending it — and inserting trades we missed
(lost reports). Blocking mismatches: the day's book (opening snapshot + our fills) differs from the broker's
positions or cash, or an order's filled volume differs from the broker's after the repair; they are recorded
as unresolved risk events, and no order run of the instance trades until an operator acknowledges them
(`acknowledge`: recorded, and the day's book re-based on the broker's).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from aistock_core.db.models.execution import TradeAcknowledgement
from aistock_core.errors import ConfigError
from aistock_core.execution.domain import AccountSnapshot, Position
from aistock_core.execution.gateway import Gateway
from aistock_core.execution.states import OrderState, from_qmt_status
from aistock_core.execution.store import ExecutionStore, StateUpdate

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
    lost: list[StateUpdate] = []
    synced: list[StateUpdate] = []
    for order in store.orders(instance, day):
        b = broker_orders.get(order.remark)
        if b is None:
            if order.state is OrderState.SUBMITTED:
                lost.append(StateUpdate(order.intent_key, OrderState.REJECTED,
                                        message="not at the broker after submission (lost on the way); not resent"))
            continue
        if order.broker_order_id is None:
            result.ids_adopted += 1
        synced.append(StateUpdate(order.intent_key, from_qmt_status(b.status), b.broker_order_id, b.message or None,
                                  force=True))
    store.set_states(lost)
    result.lost_orders = len(lost)
    result.states_synced = store.set_states(synced)
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


def _net_fills(store: ExecutionStore, instance: str, day: pd.Timestamp) -> tuple[dict[str, int], float]:
    """What today's recorded fills changed: shares per symbol and cash (fees included)."""
    volume: dict[str, int] = defaultdict(int)
    cash = 0.0
    for f in store.fills(instance, day):
        sign = 1 if f.side == "buy" else -1
        volume[f.symbol] += sign * f.volume
        cash -= sign * f.volume * f.price + f.fee
    return volume, cash


def _book_mismatches(store: ExecutionStore, gateway: Gateway, instance: str, day: pd.Timestamp) -> list[Mismatch]:
    """Opening snapshot + today's fills vs the broker's positions and cash now."""
    snap = gateway.snapshot()
    opening = store.opening_snapshot(instance, day, snap, snap.equity({}))
    delta, cash_delta = _net_fills(store, instance, day)
    volume = {s: opening.volume(s) + delta.get(s, 0) for s in set(opening.positions) | set(delta)}
    cash = opening.cash + cash_delta
    out = [Mismatch("position", s, volume.get(s, 0), snap.volume(s), True)
           for s in sorted(set(volume) | set(snap.positions)) if volume.get(s, 0) != snap.volume(s)]
    if abs(cash - snap.cash) > CASH_TOLERANCE:
        out.append(Mismatch("cash", None, round(cash, 2), round(snap.cash, 2), True))
    return out


def acknowledge(store: ExecutionStore, gateway: Gateway, instance: str, day: pd.Timestamp, *, by: str,
                at: datetime, note: str) -> TradeAcknowledgement:
    """An operator accepts the unresolved mismatches: recorded (who, when, why, which), marked resolved, and the
    day's opening snapshot re-based so that it plus today's fills equals the broker now (the broker wins; the
    next reconciliation does not find the same difference again). Nothing to acknowledge is a `ConfigError`."""
    if not by.strip() or not note.strip():
        raise ConfigError("an acknowledgement needs --by NAME and --note TEXT (who accepts the broker's book, and why)")
    if not store.unresolved_mismatches(instance):
        raise ConfigError(f"instance {instance!r} has no unresolved reconciliation mismatch to acknowledge")
    snap = gateway.snapshot()
    delta, cash_delta = _net_fills(store, instance, day)
    volume = {s: snap.volume(s) - delta.get(s, 0) for s in set(snap.positions) | set(delta)}
    avg = {s: p.avg_price for s, p in snap.positions.items()}
    opening = AccountSnapshot(snap.cash - cash_delta, {s: Position(s, v, v, avg.get(s, 0.0))
                                                       for s, v in sorted(volume.items()) if v})
    store.opening_snapshot(instance, day, opening, opening.equity({}))  # stores it if the day has none yet
    return store.acknowledge(instance, day, by, at, note, opening)


def _record(store: ExecutionStore, instance: str, day: pd.Timestamp, now: pd.Timestamp,
            result: ReconcileResult) -> None:
    stamp = pd.Timestamp(now).isoformat()
    store.record_events([
        {"event_key": f"reconcile|{instance}|{stamp}|{i}", "instance": instance, "trading_day": day.date(),
         "kind": "reconcile", "intent_key": None, "symbol": m.symbol, "allowed": None, "rule": m.kind,
         "message": f"local {m.local} vs broker {m.broker}", "resolved": not m.blocking}
        for i, m in enumerate(result.mismatches)
    ])

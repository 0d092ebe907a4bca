"""`ExecutionStore`: every execution write, transactional and repeatable (upserts by natural key).

The order of writes is the safety argument: intents, orders (``initialized`` or ``denied``) and their risk
verdicts are written in one transaction before anything is sent; an order is marked ``submitted`` (committed)
before the gateway is called; fills are inserted only if their broker trade id is new, and an order's filled
volume is always re-summed from its fills, so duplicated or re-queried trade reports change nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pandas as pd
from sqlalchemy import func, select, update

from aistock_core.db import Database
from aistock_core.db.models.execution import (
    AccountSnapshotRow,
    RiskEvent,
    TradeAcknowledgement,
    TradeApproval,
    TradeFill,
    TradeHalt,
    TradeInstance,
    TradeIntent,
    TradeOrder,
)
from aistock_core.db.upsert import upsert
from aistock_core.errors import ConfigError
from aistock_core.execution.domain import AccountSnapshot, BrokerTrade, PlannedOrder, Position
from aistock_core.execution.risk import Verdict
from aistock_core.execution.states import OPEN_STATES, OrderState, can_transition


@dataclass(frozen=True)
class OrderView:
    """One order with its intent, as the CLI and reconciliation read it."""

    intent_key: str
    remark: str
    slot: str
    symbol: str
    side: str
    volume: int
    price: float
    limit_up: float
    limit_down: float
    state: OrderState
    broker_order_id: str | None
    filled_volume: int
    message: str | None
    price_type: str = "limit"

    def as_dict(self) -> dict:
        return {"intent_key": self.intent_key, "slot": self.slot, "symbol": self.symbol, "side": self.side,
                "volume": self.volume, "price": self.price, "price_type": self.price_type, "status": str(self.state),
                "broker_order_id": self.broker_order_id, "filled_volume": self.filled_volume,
                "message": self.message}


@dataclass(frozen=True)
class StateUpdate:
    intent_key: str
    state: OrderState
    broker_order_id: str | None = None
    message: str | None = None
    force: bool = False


def _day(value) -> date:
    return pd.Timestamp(value).date()


def _positions(snapshot: AccountSnapshot) -> dict[str, list]:
    return {s: [p.volume, p.sellable, p.avg_price] for s, p in snapshot.positions.items()}


class ExecutionStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- instances -----------------------------------------------------------------------------------------
    def create_instance(self, row: dict) -> int:
        """Insert a new instance (``row``: the `TradeInstance` columns); a taken name is a `ConfigError`."""
        with self.db.session() as s:
            if s.scalar(select(TradeInstance.id).where(TradeInstance.name == row["name"])) is not None:
                raise ConfigError(f"trading instance {row['name']!r} already exists; pick another --name")
            inst = TradeInstance(**row)
            s.add(inst)
            s.flush()
            return inst.id

    def instance(self, name: str) -> TradeInstance:
        with self.db.session() as s:
            inst = s.scalar(select(TradeInstance).where(TradeInstance.name == name))
        if inst is None:
            raise ConfigError(f"unknown trading instance {name!r}; create it with `aistock trade instance create`")
        return inst

    def set_trading_state(self, name: str, state: str) -> None:
        with self.db.session() as s:
            s.execute(update(TradeInstance).where(TradeInstance.name == name).values(trading_state=state))

    def record_approval(self, name: str, by: str, at: datetime, limits: dict, note: str | None) -> None:
        with self.db.session() as s:
            upsert(s, TradeApproval, [{"instance": name, "approved_by": by, "approved_at": at, "limits": limits,
                                       "note": note}])

    def latest_approval(self, name: str) -> TradeApproval | None:
        with self.db.session() as s:
            return s.scalar(select(TradeApproval).where(TradeApproval.instance == name)
                            .order_by(TradeApproval.approved_at.desc()).limit(1))

    def record_halt(self, name: str, by: str, at: datetime, reason: str) -> None:
        """Open a halt period and set the state to halted (both or neither)."""
        with self.db.session() as s:
            upsert(s, TradeHalt, [{"instance": name, "halted_at": at, "halted_by": by, "reason": reason}],
                   update=())
            s.execute(update(TradeInstance).where(TradeInstance.name == name).values(trading_state="halted"))

    def record_resume(self, name: str, by: str, at: datetime) -> int:
        """Close every open halt period and set the state to active; returns the periods closed."""
        with self.db.session() as s:
            closed = s.execute(update(TradeHalt).where(TradeHalt.instance == name, TradeHalt.resumed_at.is_(None))
                               .values(resumed_at=at, resumed_by=by)).rowcount
            s.execute(update(TradeInstance).where(TradeInstance.name == name).values(trading_state="active"))
        return int(closed)

    def halts(self, name: str) -> list[TradeHalt]:
        with self.db.session() as s:
            return list(s.scalars(select(TradeHalt).where(TradeHalt.instance == name).order_by(TradeHalt.halted_at)))

    # -- plans and orders ----------------------------------------------------------------------------------
    def persist_plan(self, instance: str, day, slot: str, orders: list[PlannedOrder], verdicts: list[Verdict]) -> int:
        """Intents, orders (initialized / denied) and verdict events in one transaction; existing intents are
        left alone (a re-run persists nothing new). Returns the intents newly written."""
        allowed = {v.intent_key: v for v in verdicts}
        d = _day(day)
        with self.db.session() as s:
            existing = set(s.scalars(select(TradeIntent.intent_key).where(
                TradeIntent.intent_key.in_([o.intent_key for o in orders]))))
            new = [o for o in orders if o.intent_key not in existing]
            upsert(s, TradeIntent, [{"intent_key": o.intent_key, "remark": o.remark, "instance": instance,
                                     "trading_day": d, "slot": slot, "symbol": o.symbol, "side": o.side,
                                     "volume": o.volume, "price": o.price, "limit_up": o.limit_up,
                                     "limit_down": o.limit_down, "reason": o.reason, "price_type": o.price_type}
                                    for o in new], update=())
            upsert(s, TradeOrder, [{"intent_key": o.intent_key, "instance": instance, "trading_day": d,
                                    "state": str(OrderState.INITIALIZED if allowed[o.intent_key].allowed
                                                 else OrderState.DENIED),
                                    "filled_volume": 0, "filled_value": 0.0,
                                    "message": None if allowed[o.intent_key].allowed else
                                    f"{allowed[o.intent_key].rule}: {allowed[o.intent_key].message}"}
                                   for o in new], update=())
            self._events(s, [{"event_key": f"verdict|{o.intent_key}", "instance": instance, "trading_day": d,
                              "kind": "verdict", "intent_key": o.intent_key, "symbol": o.symbol,
                              "allowed": allowed[o.intent_key].allowed, "rule": allowed[o.intent_key].rule,
                              "message": allowed[o.intent_key].message, "resolved": True} for o in new])
        return len(new)

    @staticmethod
    def _events(session, rows: list[dict]) -> None:
        upsert(session, RiskEvent, rows, update=())

    def record_events(self, rows: list[dict]) -> None:
        with self.db.session() as s:
            self._events(s, rows)

    def events(self, instance: str, kind: str | None = None) -> list[RiskEvent]:
        with self.db.session() as s:
            q = select(RiskEvent).where(RiskEvent.instance == instance)
            if kind:
                q = q.where(RiskEvent.kind == kind)
            return list(s.scalars(q.order_by(RiskEvent.id)))

    def orders(self, instance: str, day=None, slot: str | None = None) -> list[OrderView]:
        with self.db.session() as s:
            q = select(TradeIntent, TradeOrder).join(TradeOrder, TradeOrder.intent_key == TradeIntent.intent_key) \
                .where(TradeIntent.instance == instance)
            if day is not None:
                q = q.where(TradeIntent.trading_day == _day(day))
            if slot is not None:
                q = q.where(TradeIntent.slot == slot)
            rows = s.execute(q.order_by(TradeIntent.id)).all()
        return [OrderView(i.intent_key, i.remark, i.slot, i.symbol, i.side, i.volume, i.price, i.limit_up,
                          i.limit_down, OrderState(o.state), o.broker_order_id, o.filled_volume, o.message,
                          i.price_type)
                for i, o in rows]

    def set_state(self, intent_key: str, state: OrderState, *, broker_order_id: str | None = None,
                  message: str | None = None, force: bool = False) -> bool:
        """Move one order to ``state``; see `set_states`."""
        return self.set_states([StateUpdate(intent_key, state, broker_order_id, message, force)]) == 1

    def set_states(self, updates: list[StateUpdate]) -> int:
        """Apply state updates in one transaction, in order. Each moves its order only along the state machine
        (``force``: the broker's current status, which wins); the broker id is adopted once. Returns the
        orders whose state changed."""
        changed = 0
        if not updates:
            return 0
        with self.db.session() as s:
            keys = {u.intent_key for u in updates}
            rows = {o.intent_key: o for o in s.scalars(select(TradeOrder).where(TradeOrder.intent_key.in_(keys)))}
            for u in updates:
                order = rows[u.intent_key]
                if u.broker_order_id and not order.broker_order_id:
                    order.broker_order_id = u.broker_order_id
                if u.message:
                    order.message = u.message
                current = OrderState(order.state)
                if current != u.state and (u.force or can_transition(current, u.state)):
                    order.state = str(u.state)
                    changed += 1
        return changed

    def mark_cancel_requested(self, intent_keys: list[str], at: datetime) -> None:
        """Orders whose cancel the broker accepted: ``pending_cancel``, with the time asked (the cancel rate)."""
        if not intent_keys:
            return
        with self.db.session() as s:
            for order in s.scalars(select(TradeOrder).where(TradeOrder.intent_key.in_(intent_keys))):
                if can_transition(OrderState(order.state), OrderState.PENDING_CANCEL):
                    order.state = str(OrderState.PENDING_CANCEL)
                order.cancel_requested_at = at

    def order_times(self, instance: str, day) -> tuple[list[pd.Timestamp], list[pd.Timestamp]]:
        """(times the day's orders were sent — their slot's time —, times cancels were asked), each sorted."""
        with self.db.session() as s:
            rows = s.execute(select(TradeIntent.slot, TradeOrder.state, TradeOrder.cancel_requested_at)
                             .join(TradeOrder, TradeOrder.intent_key == TradeIntent.intent_key)
                             .where(TradeIntent.instance == instance, TradeIntent.trading_day == _day(day))).all()
        d = f"{pd.Timestamp(day):%Y-%m-%d}"
        sent = sorted(pd.Timestamp(f"{d} {slot[:2]}:{slot[2:]}", tz="Asia/Shanghai") for slot, state, _ in rows
                      if state not in (OrderState.INITIALIZED, OrderState.DENIED))
        canceled = sorted(pd.Timestamp(at if at.tzinfo else at.replace(tzinfo=UTC)) for _, _, at in rows
                          if at is not None)
        return sent, canceled

    def active_order_count(self, instance: str, day) -> int:
        """Orders of ``day`` still open at the broker (A-share orders do not outlive their session)."""
        with self.db.session() as s:
            return int(s.scalar(select(func.count()).select_from(TradeOrder).where(
                TradeOrder.instance == instance, TradeOrder.trading_day == _day(day),
                TradeOrder.state.in_([str(x) for x in OPEN_STATES]))))

    # -- fills ---------------------------------------------------------------------------------------------
    def add_fills(self, instance: str, account_id: str, day, trades: Iterable[BrokerTrade],
                  remarks: dict[str, str]) -> int:
        """Insert trades not seen before (by broker trade id) and re-sum the touched orders' fills; returns the
        fills that were new. ``remarks`` maps a remark to its intent key."""
        trades = list(trades)
        if not trades:
            return 0
        d = _day(day)
        with self.db.session() as s:
            ids = [t.trade_id for t in trades]
            seen = set(s.scalars(select(TradeFill.broker_trade_id).where(
                TradeFill.account_id == account_id, TradeFill.broker_trade_id.in_(ids))))
            new = {t.trade_id: t for t in trades if t.trade_id not in seen}
            upsert(s, TradeFill, [{"account_id": account_id, "broker_trade_id": t.trade_id,
                                   "broker_order_id": t.broker_order_id, "intent_key": remarks.get(t.remark),
                                   "instance": instance, "trading_day": d, "symbol": t.symbol, "side": t.side,
                                   "volume": t.volume, "price": t.price, "fee": t.fee, "traded_at": t.traded_at}
                                  for t in new.values()], update=())
            keys = {remarks[t.remark] for t in trades if t.remark in remarks}
            self._resum(s, keys)
        return len(new)

    @staticmethod
    def _resum(session, keys: set[str]) -> None:
        if not keys:
            return
        sums = session.execute(select(TradeFill.intent_key, func.sum(TradeFill.volume),
                                      func.sum(TradeFill.volume * TradeFill.price))
                               .where(TradeFill.intent_key.in_(keys)).group_by(TradeFill.intent_key)).all()
        for key, volume, value in sums:
            session.execute(update(TradeOrder).where(TradeOrder.intent_key == key)
                            .values(filled_volume=int(volume), filled_value=float(value)))

    def fills(self, instance: str, day=None) -> list[TradeFill]:
        with self.db.session() as s:
            q = select(TradeFill).where(TradeFill.instance == instance)
            if day is not None:
                q = q.where(TradeFill.trading_day == _day(day))
            return list(s.scalars(q.order_by(TradeFill.id)))

    def remarks(self, instance: str, day) -> dict[str, str]:
        """remark → intent key for the instance's intents of ``day``."""
        with self.db.session() as s:
            rows = s.execute(select(TradeIntent.remark, TradeIntent.intent_key).where(
                TradeIntent.instance == instance, TradeIntent.trading_day == _day(day))).all()
        return dict(rows)

    # -- reconciliation mismatches -------------------------------------------------------------------------
    def unresolved_mismatches(self, instance: str) -> list[RiskEvent]:
        """Reconciliation mismatches not yet acknowledged (they block the instance's order runs)."""
        with self.db.session() as s:
            return list(s.scalars(select(RiskEvent).where(RiskEvent.instance == instance, RiskEvent.kind == "reconcile",
                                                          RiskEvent.resolved.is_(False)).order_by(RiskEvent.id)))

    def acknowledge(self, instance: str, day, by: str, at: datetime, note: str,
                    opening: AccountSnapshot | None) -> TradeAcknowledgement:
        """Record who acknowledged which unresolved mismatches, mark them resolved and, when ``opening`` is given,
        re-base the day's opening snapshot on it (the broker wins) — one transaction."""
        with self.db.session() as s:
            events = list(s.scalars(select(RiskEvent).where(
                RiskEvent.instance == instance, RiskEvent.kind == "reconcile", RiskEvent.resolved.is_(False))))
            listed = [{"event_key": e.event_key, "rule": e.rule, "symbol": e.symbol, "message": e.message}
                      for e in events]
            ack = TradeAcknowledgement(instance=instance, trading_day=_day(day), acknowledged_by=by,
                                       acknowledged_at=at, note=note, mismatches=listed)
            s.add(ack)
            for e in events:
                e.resolved = True
            if opening is not None:
                s.execute(update(AccountSnapshotRow).where(
                    AccountSnapshotRow.instance == instance, AccountSnapshotRow.trading_day == _day(day),
                    AccountSnapshotRow.kind == "open").values(cash=opening.cash, positions=_positions(opening)))
            s.flush()
        return ack

    def acknowledgements(self, instance: str) -> list[TradeAcknowledgement]:
        with self.db.session() as s:
            return list(s.scalars(select(TradeAcknowledgement).where(TradeAcknowledgement.instance == instance)
                                  .order_by(TradeAcknowledgement.id)))

    # -- account snapshots ---------------------------------------------------------------------------------
    def opening_snapshot(self, instance: str, day, snapshot: AccountSnapshot, equity: float) -> AccountSnapshot:
        """The day's opening snapshot: stored from ``snapshot`` the first time, read back ever after."""
        d = _day(day)
        with self.db.session() as s:
            upsert(s, AccountSnapshotRow, [{"instance": instance, "trading_day": d, "kind": "open",
                                            "cash": snapshot.cash, "equity": equity,
                                            "positions": _positions(snapshot)}],
                   update=())
        return self.opening(instance, day)

    def opening(self, instance: str, day) -> AccountSnapshot | None:
        """The day's opening snapshot, if the day's first reconciliation has stored it."""
        with self.db.session() as s:
            row = s.scalar(select(AccountSnapshotRow).where(AccountSnapshotRow.instance == instance,
                                                            AccountSnapshotRow.trading_day == _day(day),
                                                            AccountSnapshotRow.kind == "open"))
        if row is None:
            return None
        return AccountSnapshot(row.cash, {k: Position(k, int(v[0]), int(v[1]), float(v[2]))
                                          for k, v in row.positions.items()})

"""Execution tables: trading instances and their live approvals, trade intents, orders, fills, risk events, halts
and the opening account snapshot of each trading day.

Natural keys make every write repeatable: an intent by its ``intent_key`` (instance, day, slot, symbol, side),
an order by the intent it serves (one order per intent: a re-run finds it and sends nothing), a fill by the
broker's trade id within the account (a re-pushed or re-queried trade report is the same row), a risk event by
its ``event_key``.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from aistock_core.db.base import Base


class TradeInstance(Base):
    """A strategy instance that trades: where its targets come from, which account and gateway, its risk policy
    (the validated limits as JSON) and its trading state (active / reducing / halted)."""

    __tablename__ = "trade_instances"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    mode: Mapped[str] = mapped_column(String(8))
    gateway: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[str] = mapped_column(String(64))
    capital: Mapped[float] = mapped_column(Float)
    loop: Mapped[str | None] = mapped_column(String(256))
    model: Mapped[str | None] = mapped_column(String(256))
    frequency: Mapped[str] = mapped_column(String(8))
    policy: Mapped[dict] = mapped_column(JSON)
    trading_state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class TradeApproval(Base):
    """Who approved live trading for an instance, when, and under which limits (live needs one)."""

    __tablename__ = "trade_approvals"
    __table_args__ = (UniqueConstraint("instance", "approved_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance: Mapped[str] = mapped_column(String(64), ForeignKey("trade_instances.name"))
    approved_by: Mapped[str] = mapped_column(String(128))
    approved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    limits: Mapped[dict] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)


class TradeIntent(Base):
    """What an order run meant to do, stored before anything is sent."""

    __tablename__ = "trade_intent"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    intent_key: Mapped[str] = mapped_column(String(160), unique=True)
    remark: Mapped[str] = mapped_column(String(24), index=True)
    instance: Mapped[str] = mapped_column(String(64), index=True)
    trading_day: Mapped[date] = mapped_column(Date)
    slot: Mapped[str] = mapped_column(String(4))
    symbol: Mapped[str] = mapped_column(String(16))
    side: Mapped[str] = mapped_column(String(4))
    volume: Mapped[int] = mapped_column(Integer)
    price: Mapped[float] = mapped_column(Float)
    limit_up: Mapped[float] = mapped_column(Float)
    limit_down: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(String(128))
    #: ``limit``, or ``market`` (its ``price`` is the protection price; `aistock_core.execution.planner`).
    price_type: Mapped[str] = mapped_column(String(8), server_default="limit", default="limit")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class TradeOrder(Base):
    """The order serving one intent: its state (`aistock_core.execution.states`), the broker's id once known, and
    what has filled (summed from ``trade_fills``, never from a status report)."""

    __tablename__ = "trade_orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    intent_key: Mapped[str] = mapped_column(String(160), ForeignKey("trade_intent.intent_key"), unique=True)
    instance: Mapped[str] = mapped_column(String(64), index=True)
    trading_day: Mapped[date] = mapped_column(Date)
    state: Mapped[str] = mapped_column(String(20))
    broker_order_id: Mapped[str | None] = mapped_column(String(64), index=True)
    filled_volume: Mapped[int] = mapped_column(Integer, default=0)
    filled_value: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str | None] = mapped_column(Text)
    #: When a cancel was asked for (the cancel-rate limit counts these).
    cancel_requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now())


class TradeFill(Base):
    """One trade report from the broker, deduplicated by ``(account_id, broker_trade_id)``."""

    __tablename__ = "trade_fills"
    __table_args__ = (UniqueConstraint("account_id", "broker_trade_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(String(64))
    broker_trade_id: Mapped[str] = mapped_column(String(64))
    broker_order_id: Mapped[str] = mapped_column(String(64))
    intent_key: Mapped[str | None] = mapped_column(String(160), index=True)
    instance: Mapped[str] = mapped_column(String(64), index=True)
    trading_day: Mapped[date] = mapped_column(Date)
    symbol: Mapped[str] = mapped_column(String(16))
    side: Mapped[str] = mapped_column(String(4))
    volume: Mapped[int] = mapped_column(Integer)
    price: Mapped[float] = mapped_column(Float)
    fee: Mapped[float] = mapped_column(Float)
    traded_at: Mapped[str] = mapped_column(String(32))


class RiskEvent(Base):
    """A risk verdict (allowed or denied, with the rule), a reconciliation mismatch, a halt or a resume."""

    __tablename__ = "risk_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_key: Mapped[str] = mapped_column(String(200), unique=True)
    instance: Mapped[str] = mapped_column(String(64), index=True)
    trading_day: Mapped[date | None] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(16))
    intent_key: Mapped[str | None] = mapped_column(String(160))
    symbol: Mapped[str | None] = mapped_column(String(16))
    allowed: Mapped[bool | None] = mapped_column(Boolean)
    rule: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class TradeHalt(Base):
    """A kill-switch period: halted by whom and why; ``resumed_at`` is NULL while it lasts."""

    __tablename__ = "trade_halts"
    __table_args__ = (UniqueConstraint("instance", "halted_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance: Mapped[str] = mapped_column(String(64), ForeignKey("trade_instances.name"))
    halted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    halted_by: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(Text)
    resumed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resumed_by: Mapped[str | None] = mapped_column(String(128))


class AccountSnapshotRow(Base):
    """The broker's cash and positions at the day's first reconciliation: the base of the day's expected book and
    of the daily-loss limit."""

    __tablename__ = "trade_account_snapshots"
    __table_args__ = (UniqueConstraint("instance", "trading_day", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance: Mapped[str] = mapped_column(String(64))
    trading_day: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(8))
    cash: Mapped[float] = mapped_column(Float)
    equity: Mapped[float] = mapped_column(Float)
    positions: Mapped[dict] = mapped_column(JSON)


class TradeAcknowledgement(Base):
    """An operator's acknowledgement of reconciliation mismatches: who, when, why, and which mismatches (their
    risk event keys and texts). Until one is recorded, unresolved mismatches keep the instance's order runs
    blocked."""

    __tablename__ = "trade_acknowledgements"
    __table_args__ = (UniqueConstraint("instance", "acknowledged_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance: Mapped[str] = mapped_column(String(64), ForeignKey("trade_instances.name"))
    trading_day: Mapped[date] = mapped_column(Date)
    acknowledged_by: Mapped[str] = mapped_column(String(128))
    acknowledged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    note: Mapped[str] = mapped_column(Text)
    mismatches: Mapped[list] = mapped_column(JSON)

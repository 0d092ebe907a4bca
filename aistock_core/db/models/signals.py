"""Signals box: trading signals with their lifecycle, every transition with its cause, and daily evaluations.

A signal is keyed by what it is — ``(instance, trading_day, slot, symbol, direction)`` — so generating a day
twice, or deriving its outcome again after a re-run, overwrites instead of piling up. A transition is keyed by
``(signal_key, to_state)``: the lifecycle visits each state at most once (it only moves forward), so the key
also makes recording repeatable. ``instance`` is the loop-wide instance id (``preview-<id>`` or
``trade-<name>``, see `aistock_core.instances`), which is why there is no foreign key: it spans the
preview and execution tables.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, DateTime, Float, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from aistock_core.db.base import Base


class TradingSignal(Base):
    """One signal: what the model/target diff asked for, and (once known) how it was executed and how it did."""

    __tablename__ = "trading_signals"
    __table_args__ = (UniqueConstraint("signal_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    signal_key: Mapped[str] = mapped_column(String(200))
    instance: Mapped[str] = mapped_column(String(80), index=True)
    env: Mapped[str] = mapped_column(String(8))
    trading_day: Mapped[date] = mapped_column(Date, index=True)
    slot: Mapped[str] = mapped_column(String(5))
    symbol: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(4))
    signal_type: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(12))
    strength: Mapped[float | None] = mapped_column(Float)
    confidence: Mapped[float | None] = mapped_column(Float)
    expected_return: Mapped[float | None] = mapped_column(Float)
    risk_score: Mapped[float | None] = mapped_column(Float)
    suggested_quantity: Mapped[float | None] = mapped_column(Float)
    suggested_price: Mapped[float | None] = mapped_column(Float)
    stop_loss: Mapped[float | None] = mapped_column(Float)
    take_profit: Mapped[float | None] = mapped_column(Float)
    order_id: Mapped[str | None] = mapped_column(String(200))
    decision_price: Mapped[float | None] = mapped_column(Float)
    executed_quantity: Mapped[float | None] = mapped_column(Float)
    executed_price: Mapped[float | None] = mapped_column(Float)
    execution_slippage_bps: Mapped[float | None] = mapped_column(Float)
    fill_seconds: Mapped[float | None] = mapped_column(Float)
    fees: Mapped[float | None] = mapped_column(Float)
    actual_return: Mapped[float | None] = mapped_column(Float)
    pnl: Mapped[float | None] = mapped_column(Float)
    evaluation_score: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now())


class SignalTransition(Base):
    """One move of a signal's lifecycle and why (the risk verdict, the order and its state, the expiry)."""

    __tablename__ = "signal_transitions"
    __table_args__ = (UniqueConstraint("signal_key", "to_state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    signal_key: Mapped[str] = mapped_column(String(200), index=True)
    from_state: Mapped[str | None] = mapped_column(String(12))
    to_state: Mapped[str] = mapped_column(String(12))
    cause: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime)


class PerformanceReportRow(Base):
    """An instance's evaluation on one trading day: the period figures, the signal summary, the patterns found
    and the divergence from expectation (``figures``: the full dict the report shows)."""

    __tablename__ = "performance_reports"
    __table_args__ = (UniqueConstraint("instance", "trading_day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance: Mapped[str] = mapped_column(String(80))
    trading_day: Mapped[date] = mapped_column(Date, index=True)
    env: Mapped[str] = mapped_column(String(8))
    sessions: Mapped[int] = mapped_column(Integer)
    total_return: Mapped[float | None] = mapped_column(Float)
    sharpe: Mapped[float | None] = mapped_column(Float)
    max_drawdown: Mapped[float | None] = mapped_column(Float)
    win_rate: Mapped[float | None] = mapped_column(Float)
    avg_evaluation_score: Mapped[float | None] = mapped_column(Float)
    tracking_error: Mapped[float | None] = mapped_column(Float)
    verdict: Mapped[str] = mapped_column(Text)
    figures: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now())

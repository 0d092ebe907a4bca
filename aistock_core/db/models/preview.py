"""Preview (virtual accounts): instances, their virtual trades, daily positions and daily account rows.

Rows are keyed by what they are — a trade by ``(preview_id, trading_day, slot, symbol, side)``, a position and an
account row by ``(preview_id, trading_day[, symbol])`` — so re-running a trade, a refresh or a settlement
overwrites instead of piling up. Every column beyond the issue's minimum has a server default (or is nullable),
so a row written by a tool with only the documented columns is valid. Money is in yuan, volumes in shares,
``datetime``/``quote_time`` are naive Shanghai wall-clock times, symbols ``600000.SH``-style.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from aistock_core.db.base import Base

#: Lifecycle of an instance: only ``running`` ones trade, refresh and settle.
STATUSES = ("running", "stopped", "archived")


class PreviewStrategy(Base):
    """One virtual account: where its targets come from (``strategy_id`` / ``loop`` / ``model``), its capital,
    its parameters (``params``: strategy block, fee switch, decision time) and its status."""

    __tablename__ = "preview_strategy"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    strategy_id: Mapped[str | None] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(128), unique=True)
    initial_capital: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), server_default=text("'running'"))
    loop: Mapped[str | None] = mapped_column(String(256))
    model: Mapped[str | None] = mapped_column(String(256))
    params: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now())


class PreviewTrade(Base):
    """A virtual fill or an unfilled intent (``status`` ``unfilled``, ``volume`` 0, ``reason`` says why), or a
    corporate-action credit (``side`` ``bonus``: shares; ``dividend``: cash in ``amount``)."""

    __tablename__ = "preview_trade"
    __table_args__ = (UniqueConstraint("preview_id", "trading_day", "slot", "symbol", "side"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    preview_id: Mapped[int] = mapped_column(ForeignKey("preview_strategy.id", ondelete="CASCADE"))
    trading_day: Mapped[date] = mapped_column(Date)
    datetime: Mapped[datetime] = mapped_column(DateTime)
    symbol: Mapped[str] = mapped_column(String(16))
    side: Mapped[str] = mapped_column(String(8))
    price: Mapped[float] = mapped_column(Float)
    volume: Mapped[float] = mapped_column(Float)
    amount: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(String(64))
    slot: Mapped[str] = mapped_column(String(8), server_default=text("''"))
    fee: Mapped[float] = mapped_column(Float, server_default=text("0"))
    status: Mapped[str] = mapped_column(String(16), server_default=text("'filled'"))
    target_volume: Mapped[float | None] = mapped_column(Float)


class PreviewPosition(Base):
    """A holding on one trading day (carried from the previous day, then traded and marked).

    ``quote_time`` is when the mark last changed (a refresh skips rows whose price did not move); on PostgreSQL
    the table is created with fillfactor 40 so the minute refresh updates rows in place (see the migration)."""

    __tablename__ = "preview_position"
    __table_args__ = (UniqueConstraint("preview_id", "trading_day", "symbol"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    preview_id: Mapped[int] = mapped_column(ForeignKey("preview_strategy.id", ondelete="CASCADE"))
    trading_day: Mapped[date] = mapped_column(Date)
    symbol: Mapped[str] = mapped_column(String(16))
    volume: Mapped[float] = mapped_column(Float)
    avg_cost: Mapped[float] = mapped_column(Float)
    last_price: Mapped[float] = mapped_column(Float)
    market_value: Mapped[float] = mapped_column(Float)
    sellable: Mapped[float] = mapped_column(Float, server_default=text("0"))
    quote_time: Mapped[datetime | None] = mapped_column(DateTime)
    stale: Mapped[bool] = mapped_column(Boolean, server_default=false())
    #: Dividend tax due on sale (0013): the day the position was opened and the cash dividends it received since.
    opened: Mapped[date | None] = mapped_column(Date)
    dividend: Mapped[float] = mapped_column(Float, server_default=text("0"))


class PreviewAccount(Base):
    """An instance's account on one trading day: marked intraday by refreshes, final once ``settled``."""

    __tablename__ = "preview_account"
    __table_args__ = (
        UniqueConstraint("preview_id", "trading_day"),
        Index("ix_preview_account_day", "trading_day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    preview_id: Mapped[int] = mapped_column(ForeignKey("preview_strategy.id", ondelete="CASCADE"))
    trading_day: Mapped[date] = mapped_column(Date)
    cash: Mapped[float] = mapped_column(Float)
    total_value: Mapped[float] = mapped_column(Float)
    daily_pnl: Mapped[float | None] = mapped_column(Float)
    cum_pnl: Mapped[float | None] = mapped_column(Float)
    market_value: Mapped[float] = mapped_column(Float, server_default=text("0"))
    fees: Mapped[float] = mapped_column(Float, server_default=text("0"))
    peak: Mapped[float | None] = mapped_column(Float)
    drawdown: Mapped[float | None] = mapped_column(Float)
    nav: Mapped[float | None] = mapped_column(Float)
    settled: Mapped[bool] = mapped_column(Boolean, server_default=false())
    stale_positions: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    refreshed_at: Mapped[datetime | None] = mapped_column(DateTime)

"""Market reference data and the ledger of written bar partitions."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, Integer, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from aistock_core.db.base import Base


class Instrument(Base):
    """One row per instrument code (internal form) known to the data provider."""

    __tablename__ = "instruments"

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    board: Mapped[str] = mapped_column(String(16))
    list_date: Mapped[date | None] = mapped_column(Date)
    delist_date: Mapped[date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(256))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now())


class BarPartition(Base):
    """A trading day's slice of a Parquet dataset (``market_bars``, ``index_bars``): what, where, checksum."""

    __tablename__ = "bar_partitions"
    __table_args__ = (UniqueConstraint("dataset", "trade_date"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset: Mapped[str] = mapped_column(String(64))
    trade_date: Mapped[date] = mapped_column(Date)
    rows: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(1024))
    sha256: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(256))
    written_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now())

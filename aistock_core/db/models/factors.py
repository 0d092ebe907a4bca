"""Factor registry and alignment results: which migrated factors exist, and how well each matches its reference.

A factor is identified by ``(name, source)`` (rdagent.md §14.9: names are not unique across sources); an
alignment result by ``(factor_name, source, window, reference_kind)``, so re-running a check overwrites the
previous figures instead of piling up rows.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, DateTime, Float, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from aistock_core.db.base import Base


class FactorRecord(Base):
    """One migrated factor: its expression in our engine, the original code's hash, and its current status.

    ``status``: ``migrated`` (registered, not yet checked), ``verified`` (every checked window within rtol/atol
    with identical NaN pattern) or ``failed`` (a window out of tolerance, or the original code failed to run;
    ``error`` says why).
    """

    __tablename__ = "factor_registry"
    __table_args__ = (UniqueConstraint("name", "source"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(256))
    source: Mapped[str] = mapped_column(String(64))
    expression: Mapped[str | None] = mapped_column(Text)
    code_sha256: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now())


class FactorAlignment(Base):
    """Figures of one factor × window × reference comparison (see `aistock_core.factors.alignment`)."""

    __tablename__ = "factor_alignment"
    __table_args__ = (UniqueConstraint("factor_name", "source", "window", "reference_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    factor_name: Mapped[str] = mapped_column(String(256))
    source: Mapped[str] = mapped_column(String(64))
    window: Mapped[str] = mapped_column(String(64))
    reference_kind: Mapped[str] = mapped_column(String(16))
    window_start: Mapped[date | None] = mapped_column(Date)
    window_end: Mapped[date | None] = mapped_column(Date)
    rows_compared: Mapped[int] = mapped_column(Integer)
    rows_missing: Mapped[int] = mapped_column(Integer)
    max_abs_err: Mapped[float | None] = mapped_column(Float)
    max_rel_err: Mapped[float | None] = mapped_column(Float)
    nan_mismatches: Mapped[int] = mapped_column(Integer)
    cells_out_of_tolerance: Mapped[int] = mapped_column(Integer)
    worst_instruments: Mapped[list] = mapped_column(JSON)
    worst_dates: Mapped[list] = mapped_column(JSON)
    rtol: Mapped[float] = mapped_column(Float)
    atol: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

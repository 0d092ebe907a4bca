"""Feedback tables: LiveFeedback files written, optimizer proposals, their decisions, parameter versions.

An instance's parameters are versioned (``feedback_param_versions``): version 1 is the instance's parameters as
first seen, each later version is created by one approved proposal and points at that approval row
(``decision_id``), so nothing changes an instance without a recorded decision and every older version stays
readable (reproducible). Natural keys make re-runs idempotent: a file by (instance, kind, start, end), a
proposal by its ``proposal_key`` (kind, scope, day).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from aistock_core.db.base import Base

#: A proposal waits (``pending``) until a person approves or rejects it.
PROPOSAL_STATUSES = ("pending", "approved", "rejected")


class FeedbackFile(Base):
    """One LiveFeedback file written (and the ExperimentRequest beside it when a constraint was breached)."""

    __tablename__ = "feedback_files"
    __table_args__ = (UniqueConstraint("instance", "kind", "start_date", "end_date"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance: Mapped[str] = mapped_column(String(160), index=True)
    env: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(8))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    breaches: Mapped[list] = mapped_column(JSON)
    request_path: Mapped[str | None] = mapped_column(Text)
    posted: Mapped[str | None] = mapped_column(String(200))
    written_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FeedbackProposal(Base):
    """A parameter change the optimizer proposes, with its evidence; applied only through an approval."""

    __tablename__ = "feedback_proposals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    proposal_key: Mapped[str] = mapped_column(String(240), unique=True)
    kind: Mapped[str] = mapped_column(String(24))
    scope: Mapped[str] = mapped_column(String(160), index=True)
    trading_day: Mapped[date] = mapped_column(Date)
    changes: Mapped[dict] = mapped_column(JSON)
    evidence: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class FeedbackDecision(Base):
    """Who approved or rejected a proposal, when and why (one per proposal)."""

    __tablename__ = "feedback_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("feedback_proposals.id"), unique=True)
    decision: Mapped[str] = mapped_column(String(12))
    decided_by: Mapped[str] = mapped_column(String(128))
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)


class ParamVersion(Base):
    """One version of an instance's parameters; ``decision_id`` is the approval that created it (None: v1)."""

    __tablename__ = "feedback_param_versions"
    __table_args__ = (UniqueConstraint("instance", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance: Mapped[str] = mapped_column(String(160), index=True)
    version: Mapped[int] = mapped_column(Integer)
    params: Mapped[dict] = mapped_column(JSON)
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("feedback_decisions.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

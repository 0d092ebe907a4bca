"""The factor registry in the app DB: migrated factors, their status, and alignment figures.

Writes are idempotent upserts by natural key (``(name, source)`` for factors; ``(factor, source, window,
reference)`` for alignment rows) inside one transaction, so a retried Dagster step or a repeated CLI call
leaves exactly one current row per key and never a half-recorded check.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import select

from aistock_core.db import Database
from aistock_core.db.models.factors import FactorAlignment, FactorRecord
from aistock_core.db.upsert import upsert
from aistock_core.errors import FactorError
from aistock_core.factors.alignment import AlignmentReport

FACTOR_STATUSES = ("migrated", "verified", "failed")


@dataclass(frozen=True)
class FactorEntry:
    """A factor to register: its name and origin, our expression of it, and the hash of its original code."""

    name: str
    source: str
    expression: str | None = None
    code_sha256: str | None = None
    status: str = "migrated"
    error: str | None = None

    def __post_init__(self) -> None:
        if not self.name or not self.source:
            raise FactorError(f"factor entry needs a name and a source, got {self!r}")
        if self.status not in FACTOR_STATUSES:
            raise FactorError(f"factor {self.name}: status {self.status!r} is not one of {FACTOR_STATUSES}")


def factor_entries(expressions: Mapping[str, str], source: str,
                   code_sources: Mapping[str, str] | None = None) -> list[FactorEntry]:
    """One entry per factor (name → our expression), with the sha256 of its original code where given."""
    code = code_sources or {}
    return [FactorEntry(name, source, expr,
                        hashlib.sha256(code[name].encode("utf-8")).hexdigest() if name in code else None)
            for name, expr in expressions.items()]


def _finite(value: float | None) -> float | None:
    """NaN/inf are not portable column values (SQLite stores NaN as NULL); record them as NULL."""
    return None if value is None or not math.isfinite(value) else float(value)


def _day(value) -> object:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date()


def register_factors(db: Database, entries: Iterable[FactorEntry]) -> int:
    """Upsert factor rows (new factors start as ``migrated``); returns how many were written."""
    rows = [vars(e).copy() for e in entries]
    with db.session() as session:
        return upsert(session, FactorRecord, rows)


def record_alignment(
    db: Database,
    report: AlignmentReport,
    *,
    source: str,
    entries: Iterable[FactorEntry] = (),
    failures: Mapping[str, str] | None = None,
) -> int:
    """Record an alignment run and the factors' resulting status, all in one transaction.

    ``entries`` (optional) are upserted first so the rows carry expression and code hash; every factor in the
    report then gets status ``verified``/``failed`` (with the failing windows' notes, or ``failures[name]``: e.g.
    its original code crashed in the sandbox). Returns the number of alignment rows written.
    """
    failures = dict(failures or {})
    entries = {e.name: e for e in entries}
    align_rows = [{
        "factor_name": r.factor, "source": source, "window": r.window, "reference_kind": r.reference_kind,
        "window_start": _day(r.window_start), "window_end": _day(r.window_end), "rows_compared": r.rows_compared,
        "rows_missing": r.rows_missing, "max_abs_err": _finite(r.max_abs_err), "max_rel_err": _finite(r.max_rel_err),
        "nan_mismatches": r.nan_mismatches, "cells_out_of_tolerance": r.cells_out_of_tolerance,
        "worst_instruments": r.worst_instruments, "worst_dates": r.worst_dates, "rtol": r.rtol, "atol": r.atol,
        "status": r.status, "note": r.note, "checked_at": report.checked_at,
    } for r in report.rows]
    notes: dict[str, list[str]] = {}
    for r in report.rows:
        if r.status != "verified":
            notes.setdefault(r.factor, []).append(f"{r.window} vs {r.reference_kind}: {r.note or 'out of tolerance'}")
    statuses = report.factor_status()
    described, bare = [], []  # rows with a known expression/code overwrite them; the others keep theirs
    for name, status in statuses.items():
        base = entries.get(name, FactorEntry(name, source))
        error = failures.get(name) or ("; ".join(notes[name]) if name in notes else None)
        (described if name in entries else bare).append({**vars(base), "source": source, "status": status,
                                                         "error": error})
    with db.session() as session:
        if described:
            upsert(session, FactorRecord, described)
        if bare:
            upsert(session, FactorRecord, bare, update=["status", "error"])
        if align_rows:
            upsert(session, FactorAlignment, align_rows)
    return len(align_rows)


def factor_status(db: Database, source: str | None = None) -> pd.DataFrame:
    """The registry as a frame (name, source, status, error, expression, code_sha256), sorted by name."""
    stmt = select(FactorRecord.name, FactorRecord.source, FactorRecord.status, FactorRecord.error,
                  FactorRecord.expression, FactorRecord.code_sha256).order_by(FactorRecord.name)
    if source is not None:
        stmt = stmt.where(FactorRecord.source == source)
    with db.session() as session:
        return pd.DataFrame(session.execute(stmt).all(),
                            columns=["name", "source", "status", "error", "expression", "code_sha256"])


def alignment_results(db: Database, factor: str | None = None) -> pd.DataFrame:
    """Recorded alignment rows (latest figures per key), optionally for one factor."""
    stmt = select(FactorAlignment).order_by(FactorAlignment.factor_name, FactorAlignment.window)
    if factor is not None:
        stmt = stmt.where(FactorAlignment.factor_name == factor)
    with db.session() as session:
        rows = session.scalars(stmt).all()
        cols = [c.name for c in FactorAlignment.__table__.columns if c.name != "id"]
        return pd.DataFrame([{c: getattr(r, c) for c in cols} for r in rows], columns=cols)

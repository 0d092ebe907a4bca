"""User marks on catalog entries: "candidate for paper/live trading", a note, who and when.

Marks are AIstock's own data (RD-Agent never sees them) and survive syncs: they point at natural keys, and a
synced row is never deleted, only flagged ``removed_at``. Keys: factor ``name``, strategy ``strategy_id``,
loop ``task_run_id/loop_id``, model ``model_id``.
"""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from aistock_core.db import Database
from aistock_core.db.models.research import (
    ResearchFactor,
    ResearchLoop,
    ResearchMark,
    ResearchModel,
    ResearchStrategy,
)
from aistock_core.db.upsert import upsert
from aistock_core.errors import CatalogError

MarkKind = Literal["factor", "strategy", "loop", "model"]
Candidate = Literal["paper", "live"]
KINDS: tuple[MarkKind, ...] = ("factor", "strategy", "loop", "model")
CANDIDATES: tuple[Candidate, ...] = ("paper", "live")


def _exists(session: Session, kind: str, key: str) -> bool:
    if kind == "factor":
        stmt = select(ResearchFactor.name).where(ResearchFactor.name == key)
    elif kind == "strategy":
        stmt = select(ResearchStrategy.strategy_id).where(ResearchStrategy.strategy_id == key)
    elif kind == "model":
        stmt = select(ResearchModel.model_id).where(ResearchModel.model_id == key)
    else:
        run_id, _, loop = key.rpartition("/")
        if not run_id or not loop.isdigit():
            raise CatalogError(f"loop key {key!r} must be '<task_run_id>/<loop_id>', e.g. 'ab12.../3'")
        stmt = select(ResearchLoop.loop_id).where(ResearchLoop.task_run_id == run_id, ResearchLoop.loop_id == int(loop))
    return session.execute(stmt.limit(1)).first() is not None


def set_mark(
    db: Database, kind: str, key: str, *, candidate: str | None = None, note: str | None = None,
    who: str | None = None,
) -> ResearchMark:
    """Create or replace the mark on one synced entry; CatalogError if the entry is unknown."""
    if kind not in KINDS:
        raise CatalogError(f"unknown mark kind {kind!r}; use one of {', '.join(KINDS)}")
    if candidate is not None and candidate not in CANDIDATES:
        raise CatalogError(f"candidate must be one of {', '.join(CANDIDATES)} (or omitted), got {candidate!r}")
    row = {"kind": kind, "key": key, "candidate": candidate, "note": note,
           "marked_by": who or _user(), "marked_at": datetime.now(UTC)}
    with db.session() as session:
        if not _exists(session, kind, key):
            raise CatalogError(f"no synced {kind} {key!r}; run `aistock catalog sync` or check `aistock catalog list`")
        upsert(session, ResearchMark, [row])
    return ResearchMark(**row)


def clear_mark(db: Database, kind: str, key: str) -> bool:
    """Remove a mark; True if there was one."""
    with db.session() as session:
        result = session.execute(delete(ResearchMark).where(ResearchMark.kind == kind, ResearchMark.key == key))
        return bool(result.rowcount)


def list_marks(db: Database, kind: str | None = None) -> list[ResearchMark]:
    with db.session() as session:
        stmt = select(ResearchMark).order_by(ResearchMark.kind, ResearchMark.key)
        if kind:
            stmt = stmt.where(ResearchMark.kind == kind)
        return list(session.scalars(stmt))


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"

"""Preview instances: create, look up, list, stop and archive virtual accounts.

Only ``running`` instances trade, refresh and settle; ``stopped`` keeps its history visible and can be archived;
``archived`` is final. Every refusal is a `PreviewError` naming the instance and what to do.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from aistock_core.db import Database
from aistock_core.db.models.preview import STATUSES, PreviewStrategy
from aistock_core.errors import PreviewError

if TYPE_CHECKING:
    from aistock_core.specs import InstanceDecl

#: Allowed status changes: target → the statuses it may be reached from.
_TRANSITIONS = {"stopped": ("running",), "archived": ("running", "stopped")}


@dataclass(frozen=True)
class PreviewInstance:
    """A read-only view of one ``preview_strategy`` row."""

    id: int
    name: str
    initial_capital: float
    status: str
    strategy_id: str | None
    loop: str | None
    model: str | None
    params: dict[str, Any]
    created_at: datetime | None

    @classmethod
    def of(cls, row: PreviewStrategy) -> PreviewInstance:
        return cls(row.id, row.name, row.initial_capital, row.status, row.strategy_id, row.loop, row.model,
                   dict(row.params or {}), row.created_at)

    def as_dict(self) -> dict[str, Any]:
        out = self.__dict__.copy()
        out["created_at"] = self.created_at.isoformat() if self.created_at else None
        return out


def _new_row(name: str, capital: float, *, strategy_id: str | None = None, loop: str | None = None,
             model: str | None = None, params: dict[str, Any] | None = None) -> PreviewStrategy:
    """A validated new running instance row (not yet added)."""
    if not isinstance(capital, int | float) or not math.isfinite(capital) or capital <= 0:
        raise PreviewError(f"preview {name!r}: initial capital must be a positive amount of yuan, got {capital!r}")
    if not name or not name.strip():
        raise PreviewError("preview name must not be empty; pass --name")
    if strategy_id and loop:
        raise PreviewError(f"preview {name!r}: give either a strategy ({strategy_id}) or a loop ({loop}), not both")
    return PreviewStrategy(name=name.strip(), initial_capital=float(capital), status="running",
                           strategy_id=strategy_id, loop=loop, model=model, params=params or {})


def create_instance(db: Database, name: str, capital: float, *, strategy_id: str | None = None,
                    loop: str | None = None, model: str | None = None,
                    params: dict[str, Any] | None = None) -> PreviewInstance:
    """A new running instance; capital must be a positive number of yuan and the name unused."""
    row = _new_row(name, capital, strategy_id=strategy_id, loop=loop, model=model, params=params)
    try:
        with db.session() as session:
            session.add(row)
            session.flush()
            return PreviewInstance.of(row)
    except IntegrityError:
        raise PreviewError(f"a preview named {name!r} already exists; pick another --name "
                           f"(see `aistock preview list`)") from None


def ensure_instances(db: Database, decls: Sequence[InstanceDecl]) -> list[str]:
    """Create the declared instances whose names do not exist yet, in one transaction; returns their names.

    An existing instance is left as it is, whatever its status or source (its history was made with them), so
    running this again changes nothing; a declaration with bad values is refused before anything is written.
    """
    rows = [_new_row(d.name, d.capital, strategy_id=d.strategy_id, loop=d.loop, model=d.model, params=d.params)
            for d in decls]
    with db.session() as session:
        have = set(session.scalars(select(PreviewStrategy.name).where(
            PreviewStrategy.name.in_([r.name for r in rows]))))
        new = [r for r in rows if r.name not in have]
        session.add_all(new)
        return [r.name for r in new]


def get_instance(db: Database, preview_id: int) -> PreviewInstance:
    with db.session() as session:
        row = session.get(PreviewStrategy, int(preview_id))
        if row is None:
            raise PreviewError(f"no preview instance with id {preview_id}; see `aistock preview list`")
        return PreviewInstance.of(row)


def list_instances(db: Database, status: str | None = None) -> list[PreviewInstance]:
    if status is not None and status not in STATUSES:
        raise PreviewError(f"unknown preview status {status!r}; use one of {', '.join(STATUSES)}")
    query = select(PreviewStrategy).order_by(PreviewStrategy.id)
    if status:
        query = query.where(PreviewStrategy.status == status)
    with db.session() as session:
        return [PreviewInstance.of(row) for row in session.scalars(query)]


def set_status(db: Database, preview_id: int, status: str) -> PreviewInstance:
    """Move an instance to ``stopped`` or ``archived``; the same status again is a no-op."""
    with db.session() as session:
        row = session.get(PreviewStrategy, int(preview_id), with_for_update=not db.is_sqlite)
        if row is None:
            raise PreviewError(f"no preview instance with id {preview_id}; see `aistock preview list`")
        if row.status != status:
            if row.status not in _TRANSITIONS[status]:
                raise PreviewError(f"preview {preview_id} ({row.name}) is {row.status}; it cannot become {status}")
            row.status = status
        session.flush()
        return PreviewInstance.of(row)


def stop_instance(db: Database, preview_id: int) -> PreviewInstance:
    return set_status(db, preview_id, "stopped")


def archive_instance(db: Database, preview_id: int) -> PreviewInstance:
    return set_status(db, preview_id, "archived")

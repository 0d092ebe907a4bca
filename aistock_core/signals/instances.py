"""One id space over the loop's instances: preview accounts (``preview:<id>``) and trading instances
(``trade:<name>``, paper or live).

Signals, evaluations and feedback are about "an instance" whichever box runs it; the prefix says which table
holds it, so an id never changes meaning when a preview and a trading instance share a name. A bare name is
accepted where it matches exactly one instance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from aistock_core.db import Database
from aistock_core.db.models.execution import TradeInstance
from aistock_core.db.models.preview import PreviewStrategy
from aistock_core.errors import SignalError

PREVIEW, TRADE = "preview", "trade"


@dataclass(frozen=True)
class LoopInstance:
    """An instance as the loop sees it: id, environment (preview / paper / live), capital, research origin."""

    id: str
    env: str
    name: str
    capital: float
    active: bool
    loop: str | None = None
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.id.split(":", 1)[0]

    @property
    def key(self) -> str:
        """The id inside its own table (the preview id as text, or the trading instance's name)."""
        return self.id.split(":", 1)[1]

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "env": self.env, "name": self.name, "capital": self.capital, "active": self.active,
                "loop": self.loop, "model": self.model}


def list_instances(db: Database, *, active_only: bool = False) -> list[LoopInstance]:
    """Every instance, previews first (by id), then trading instances (by name)."""
    with db.session() as s:
        previews = list(s.scalars(select(PreviewStrategy).order_by(PreviewStrategy.id)))
        trades = list(s.scalars(select(TradeInstance).order_by(TradeInstance.name)))
    out = [LoopInstance(f"{PREVIEW}:{p.id}", "preview", p.name, float(p.initial_capital), p.status == "running",
                        p.loop, p.model, dict(p.params or {})) for p in previews]
    out += [LoopInstance(f"{TRADE}:{t.name}", t.mode, t.name, float(t.capital), t.trading_state != "halted",
                         t.loop, t.model, {"policy": t.policy, "frequency": t.frequency}) for t in trades]
    return [i for i in out if i.active] if active_only else out


def resolve_instance(db: Database, ref: str) -> LoopInstance:
    """The instance ``ref`` names (an id, or a bare name matching exactly one); `SignalError` otherwise."""
    instances = list_instances(db)
    by_id = {i.id: i for i in instances}
    if ref in by_id:
        return by_id[ref]
    named = [i for i in instances if i.name == ref]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise SignalError(f"instance name {ref!r} is ambiguous: {', '.join(i.id for i in named)}; pass the id")
    known = ", ".join(sorted(by_id)[:8]) or "none yet"
    raise SignalError(f"unknown instance {ref!r}; known instances: {known} (see `aistock loop status`)")

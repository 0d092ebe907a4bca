"""One id space over the loop's instances: preview accounts and trading instances (paper or live).

Signals, evaluations, LiveFeedback and proposals are about "an instance" whichever box runs it. Its id is
``preview-<id>`` (a ``preview_strategy`` row) or ``trade-<name>`` (a ``trade_instances`` row, env = its mode):
the prefix says which table holds it, so an id never changes meaning when a preview and a trading instance share a
name, and the id has no ``:`` so it is a folder name on every OS (the feedback folder is keyed by it). Input also
accepts the older ``preview:<id>`` / ``trade:<name>`` spelling and a bare name matching exactly one instance, so
scripts written against either box keep working. ``params`` is the document the optimizer's proposals change (see
`baseline_params`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select

from aistock_core.db import Database
from aistock_core.db.models.execution import TradeInstance
from aistock_core.db.models.preview import PreviewStrategy
from aistock_core.errors import InstanceError

PREVIEW, TRADE = "preview", "trade"
#: ``preview-3``, ``preview:3``, ``trade-alpha``, ``trade:alpha``: the kind, then the key inside its table.
_ID = re.compile(rf"^({PREVIEW}|{TRADE})[-:](.+)$")
#: Limits a breach is judged against when the instance's parameters set none (``params["limits"]``).
DEFAULT_LIMITS = {"max_drawdown": 0.10, "sharpe_shortfall": 1.0, "slippage_bps": 10.0}
#: Which instances `list_instances` returns: all; the active ones (running previews, trading instances not
#: halted); those with something to report (running previews, every trading instance: a halted one's feedback
#: says why it stopped).
Which = Literal["all", "active", "reporting"]


def instance_id(kind: str, key: object) -> str:
    """The canonical id of the row ``key`` (preview id or trading instance name) of ``kind``."""
    return f"{kind}-{key}"


def canonical_id(ref: str) -> str:
    """``ref`` in the canonical spelling when it is an id in either spelling; anything else unchanged."""
    m = _ID.match(ref)
    return instance_id(m.group(1), m.group(2)) if m else ref


@dataclass(frozen=True)
class Instance:
    """An instance as the loop sees it: id, environment (preview / paper / live), capital, research origin, and
    ``row_id`` (its primary key in its own table)."""

    id: str
    env: str
    name: str
    capital: float
    active: bool
    loop: str | None
    model: str | None
    params: dict[str, Any]
    row_id: int

    @property
    def is_preview(self) -> bool:
        return self.env == PREVIEW

    def limits(self, params: dict[str, Any] | None = None) -> dict[str, float]:
        """The breach limits: defaults overlaid with ``params["limits"]`` (positive magnitudes)."""
        given = (params if params is not None else self.params).get("limits") or {}
        return {k: float(abs(given.get(k, v))) for k, v in DEFAULT_LIMITS.items()}

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "env": self.env, "name": self.name, "capital": self.capital, "active": self.active,
                "loop": self.loop, "model": self.model}


def _preview(row: PreviewStrategy) -> Instance:
    return Instance(instance_id(PREVIEW, row.id), PREVIEW, row.name, float(row.initial_capital),
                    row.status == "running", row.loop, row.model, dict(row.params or {}), row.id)


def _trade(row: TradeInstance) -> Instance:
    return Instance(instance_id(TRADE, row.name), row.mode, row.name, float(row.capital),
                    row.trading_state != "halted", row.loop, row.model, {"policy": dict(row.policy or {})}, row.id)


def list_instances(db: Database, which: Which = "all") -> list[Instance]:
    """The instances ``which`` selects: previews first (by id), then trading instances (by name)."""
    with db.session() as s:
        out = [_preview(p) for p in s.scalars(select(PreviewStrategy).order_by(PreviewStrategy.id))]
        out += [_trade(t) for t in s.scalars(select(TradeInstance).order_by(TradeInstance.name))]
    if which == "active":
        return [i for i in out if i.active]
    if which == "reporting":
        return [i for i in out if i.active or not i.is_preview]
    return out


def resolve_instance(db: Database, ref: str) -> Instance:
    """The instance ``ref`` names (an id in either spelling, or a bare name matching exactly one);
    `InstanceError` otherwise."""
    ref = (ref or "").strip()
    instances = list_instances(db)
    by_id = {i.id: i for i in instances}
    if canonical_id(ref) in by_id:
        return by_id[canonical_id(ref)]
    named = [i for i in instances if i.name == ref]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise InstanceError(f"instance name {ref!r} is ambiguous: {', '.join(i.id for i in named)}; pass the id")
    known = ", ".join(sorted(by_id)[:8]) or "none yet"
    raise InstanceError(f"unknown instance {ref!r}; known instances: {known} (see `aistock loop status`)")


def strategy_of(db: Database, instance: Instance) -> dict[str, Any]:
    """The Qlib strategy block the instance runs, resolved as its targets are (`strategy.sources.TargetEngine`:
    its own block, else its catalog loop's, else the pipeline's, with its ``topk``/``n_drop`` overrides)."""
    from aistock_core.config import get_settings
    from aistock_core.specs import load_specs
    from aistock_core.strategy.sources import TargetEngine, TargetSource

    spec = load_specs(get_settings()).targets_spec()
    engine = TargetEngine(None, spec.strategy if spec else None, db=db)  # resolution only: no market, no scores
    params = instance.params if instance.is_preview else {"strategy": instance.params.get("strategy")}
    return engine.recipe(TargetSource(instance.loop, None, None, params)).block


def baseline_params(db: Database, instance: Instance) -> dict[str, Any]:
    """Version 1 of the instance's parameters: what it runs now, with its strategy block spelled out."""
    return {**instance.params, "strategy": strategy_of(db, instance)}

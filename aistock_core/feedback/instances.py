"""Strategy instances as feedback sees them: preview accounts and paper/live trading instances under one id.

Ids are ``preview-<id>`` (a ``preview_strategy`` row) and ``trade-<name>`` (a ``trade_instances`` row, env = its
mode): one namespace without collisions, usable as a folder name on every OS (the feedback folder is keyed by
it). ``params`` is the document the optimizer's proposals change (see `baseline_params`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from aistock_core.db import Database
from aistock_core.db.models.execution import TradeInstance
from aistock_core.db.models.preview import PreviewStrategy
from aistock_core.errors import FeedbackError

_PREVIEW = re.compile(r"^preview-(\d+)$")
_TRADE = re.compile(r"^trade-([A-Za-z0-9][A-Za-z0-9_.-]{0,63})$")
#: Limits a breach is judged against when the instance's parameters set none (``params["limits"]``).
DEFAULT_LIMITS = {"max_drawdown": 0.10, "sharpe_shortfall": 1.0, "slippage_bps": 10.0}


@dataclass(frozen=True)
class FeedbackInstance:
    ref: str
    env: str
    name: str
    capital: float
    loop: str | None
    model: str | None
    params: dict[str, Any]
    row_id: int

    @property
    def is_preview(self) -> bool:
        return self.env == "preview"

    def limits(self, params: dict[str, Any] | None = None) -> dict[str, float]:
        """The breach limits: defaults overlaid with ``params["limits"]`` (positive magnitudes)."""
        given = (params if params is not None else self.params).get("limits") or {}
        return {k: float(abs(given.get(k, v))) for k, v in DEFAULT_LIMITS.items()}


def _preview(row: PreviewStrategy) -> FeedbackInstance:
    return FeedbackInstance(f"preview-{row.id}", "preview", row.name, float(row.initial_capital), row.loop,
                            row.model, dict(row.params or {}), row.id)


def _trade(row: TradeInstance) -> FeedbackInstance:
    return FeedbackInstance(f"trade-{row.name}", row.mode, row.name, float(row.capital), row.loop, row.model,
                            {"policy": dict(row.policy or {})}, row.id)


def resolve_instance(db: Database, ref: str) -> FeedbackInstance:
    """The instance named ``ref``; an unknown or malformed id is one `FeedbackError` line."""
    ref = (ref or "").strip()
    with db.session() as session:
        if m := _PREVIEW.match(ref):
            row = session.get(PreviewStrategy, int(m.group(1)))
            if row is not None:
                return _preview(row)
        elif m := _TRADE.match(ref):
            row = session.scalar(select(TradeInstance).where(TradeInstance.name == m.group(1)))
            if row is not None:
                return _trade(row)
        else:
            raise FeedbackError(f"instance id {ref!r} is neither preview-<id> nor trade-<name>; see "
                                f"`aistock preview list` / `aistock trade status`")
    raise FeedbackError(f"unknown instance {ref!r}; see `aistock preview list` / `aistock trade status`")


def list_instances(db: Database) -> list[FeedbackInstance]:
    """Running preview instances and every trading instance, in id order."""
    with db.session() as session:
        previews = session.scalars(select(PreviewStrategy).where(PreviewStrategy.status == "running")
                                   .order_by(PreviewStrategy.id))
        out = [_preview(r) for r in previews]
        out += [_trade(r) for r in session.scalars(select(TradeInstance).order_by(TradeInstance.id))]
    return out


def strategy_of(db: Database, instance: FeedbackInstance) -> dict[str, Any]:
    """The Qlib strategy block the instance runs, resolved as its targets are (`strategy.sources.TargetEngine`:
    its own block, else its catalog loop's, else the pipeline's, with its ``topk``/``n_drop`` overrides)."""
    from aistock_core.config import get_settings
    from aistock_core.specs import load_specs
    from aistock_core.strategy.sources import TargetEngine, TargetSource

    spec = load_specs(get_settings()).targets_spec()
    engine = TargetEngine(None, spec.strategy if spec else None, db=db)  # resolution only: no market, no scores
    params = instance.params if instance.is_preview else {"strategy": instance.params.get("strategy")}
    return engine.recipe(TargetSource(instance.loop, None, None, params)).block


def baseline_params(db: Database, instance: FeedbackInstance) -> dict[str, Any]:
    """Version 1 of the instance's parameters: what it runs now, with its strategy block spelled out."""
    return {**instance.params, "strategy": strategy_of(db, instance)}

"""Proposals, decisions and parameter versions: nothing changes an instance without an approval row.

`run_optimizer` stores the optimizer's proposals as ``pending`` (a re-run of the same day keeps the rows it
finds). `decide` records an approval or a rejection; an approval also creates, in the same transaction, the next
parameter version of every instance the proposal touches (pointing at the approval) and writes those
parameters to the instance (a preview's ``params``; a trading instance's risk ``policy`` when it changed), so a
version exists for everything an instance ever ran and `params_version` can return any of them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from aistock_core.calendar import exchange_now
from aistock_core.data.service import DataService
from aistock_core.db import Database
from aistock_core.db.models.execution import TradeInstance
from aistock_core.db.models.feedback import FeedbackDecision, FeedbackProposal, ParamVersion
from aistock_core.db.models.preview import PreviewStrategy
from aistock_core.db.upsert import upsert
from aistock_core.errors import AistockError, FeedbackError
from aistock_core.feedback.history import load_history, preview_values
from aistock_core.feedback.optimizer import Proposal, propose, set_path, split, threshold
from aistock_core.feedback.periods import make_period
from aistock_core.instances import Instance, baseline_params, list_instances, resolve_instance
from aistock_core.strategy.config import STRATEGIES, strategy_from_config
from aistock_core.strategy.signals import DEFAULT_SIGNAL, signal_scores

#: Sessions of history the optimizer looks at (train + held-out).
WINDOW = 60
DECISIONS = {"approve": "approved", "reject": "rejected"}
#: The largest integer SQLite and PostgreSQL take as a parameter (64-bit signed): no proposal id is larger.
MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class ProposalView:
    id: int
    key: str
    kind: str
    scope: str
    day: str
    status: str
    changes: dict
    evidence: dict

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def _view(row: FeedbackProposal) -> ProposalView:
    return ProposalView(row.id, row.proposal_key, row.kind, row.scope, f"{row.trading_day:%Y-%m-%d}", row.status,
                        dict(row.changes), dict(row.evidence))


def _latest(session: Session, ref: str) -> ParamVersion | None:
    return session.scalar(select(ParamVersion).where(ParamVersion.instance == ref)
                          .order_by(ParamVersion.version.desc()).limit(1))


def current_params(db: Database, instance: Instance) -> dict:
    with db.session() as s:
        row = _latest(s, instance.id)
        return dict(row.params) if row else baseline_params(db, instance)


def params_version(db: Database, ref: str, version: int | None = None) -> tuple[int, dict]:
    """Version ``version`` (default: the latest) of an instance's parameters; v1 is the baseline."""
    instance = resolve_instance(db, ref)
    with db.session() as s:
        q = select(ParamVersion).where(ParamVersion.instance == instance.id)
        row = s.scalar(q.where(ParamVersion.version == version)) if version else _latest(s, instance.id)
        if row is not None:
            return row.version, dict(row.params)
    if version in (None, 1):
        return 1, baseline_params(db, instance)
    raise FeedbackError(f"instance {ref} has no parameter version {version}")


def returns_frame(db: Database, service: DataService, instances: list[Instance], day) -> pd.DataFrame:
    """Daily returns of ``instances`` over the `WINDOW` sessions ending at ``day`` (instances without a settled
    day there are left out). Previews are read in one query; trading instances one by one (their values are
    rebuilt from snapshots and fills)."""
    period = make_period(service.calendar, service.calendar.offset(day, -(WINDOW - 1)), day)
    previews = [i for i in instances if i.is_preview]
    values, before = preview_values(db, [i.row_id for i in previews], period.start.date(), period.end.date())
    chains = {i.id: (values[i.row_id].dropna(), before[i.row_id] if pd.notna(before[i.row_id]) else i.capital)
              for i in previews}
    for inst in instances:
        if not inst.is_preview:
            try:
                h = load_history(db, service, inst, period)
            except FeedbackError:
                continue
            chains[inst.id] = (h.value, h.base_value)
    columns = {ref: value / value.shift(1, fill_value=base) - 1.0 for ref, (value, base) in chains.items()
               if len(value)}
    return pd.DataFrame(columns).sort_index()


def run_optimizer(db: Database, service: DataService, day) -> list[ProposalView]:
    """Propose for every instance with history up to ``day`` and store the proposals as pending."""
    day = pd.Timestamp(day).normalize()
    instances = list_instances(db, "reporting")
    returns = returns_frame(db, service, instances, day)
    by_ref = {i.id: i for i in instances}
    params = {ref: current_params(db, by_ref[ref]) for ref in returns.columns}
    limits = {ref: by_ref[ref].limits(params[ref])["max_drawdown"] for ref in returns.columns}
    made = propose(returns, params, limits)
    made += [p for ref in returns.columns if (p := _threshold(service, ref, params[ref], returns.index)) is not None]
    return record_proposals(db, day, made)


def _threshold(service: DataService, ref: str, params: dict, sessions: pd.DatetimeIndex) -> Proposal | None:
    """The signal-threshold proposal for an instance whose strategy has one (``min_score``), else None; scored on
    the sessions whose next session's close is known."""
    block = params.get("strategy") or {}
    cls = STRATEGIES.get(str(block.get("class")))
    if cls is None or "min_score" not in {f.name for f in dataclasses.fields(cls)}:
        return None
    kwargs = block.get("kwargs") or {}
    scores = signal_scores(service, params.get("universe", "all"), sessions[0], sessions[-1],
                           params.get("signal", DEFAULT_SIGNAL)).unstack("instrument").reindex(sessions)
    end = min(service.calendar.offset(sessions[-1], 1), service.provider.data_range()[1])
    panel = service.get_panel(list(scores.columns), start=sessions[0], end=end, fields=["close"])
    close = pd.DataFrame(panel["close"], index=panel.dates, columns=panel.instruments)
    ahead = (close.shift(-1) / close - 1.0).reindex(index=sessions, columns=scores.columns)
    known = ahead.notna().any(axis=1)
    parts = split(ahead[known])
    if parts is None:
        return None
    current = float(kwargs.get("min_score", cls.min_score))
    return threshold(ref, scores, ahead, current, int(kwargs.get("topk", 50)), parts[0].index, parts[1].index)


def record_proposals(db: Database, day: pd.Timestamp, made: list[Proposal]) -> list[ProposalView]:
    keys = [p.key(day) for p in made]
    with db.session() as s:
        upsert(s, FeedbackProposal, [{"proposal_key": p.key(day), "kind": p.kind, "scope": p.scope,
                                      "trading_day": day.date(), "changes": p.changes, "evidence": p.evidence,
                                      "status": "pending"} for p in made], update=())
        rows = s.scalars(select(FeedbackProposal).where(FeedbackProposal.proposal_key.in_(keys))
                         .order_by(FeedbackProposal.id)).all() if keys else []
        return [_view(r) for r in rows]


def list_proposals(db: Database, status: str | None = None) -> list[ProposalView]:
    q = select(FeedbackProposal).order_by(FeedbackProposal.id)
    if status:
        q = q.where(FeedbackProposal.status == status)
    with db.session() as s:
        return [_view(r) for r in s.scalars(q)]


def _apply(session: Session, instance: Instance, params: dict) -> None:
    if instance.is_preview:
        strategy_from_config(params["strategy"])  # an approval must never leave an instance that cannot run
        row = session.get(PreviewStrategy, instance.row_id)
        row.params = dict(params)
        return
    if params.get("policy") != instance.params.get("policy"):
        from aistock_core.execution.risk import policy_from_mapping

        policy = policy_from_mapping(params["policy"], where=f"of instance {instance.name!r}")
        session.get(TradeInstance, instance.row_id).policy = policy.model_dump(mode="json")


def decide(db: Database, proposal_id: int, action: str, by: str, note: str | None = None,
           at: datetime | None = None) -> ProposalView:
    """Approve or reject pending proposal ``proposal_id`` as ``by``; an approval creates the new versions."""
    if action not in DECISIONS:
        raise FeedbackError(f"unknown decision {action!r}; use approve or reject")
    if not by or not by.strip():
        raise FeedbackError("a decision needs the name of who makes it; pass --by NAME")
    at = at or exchange_now().to_pydatetime()
    with db.session() as s:
        # An id past `MAX_ID` names no proposal (and the driver could not even send it).
        found = s.get(FeedbackProposal, int(proposal_id)) if 0 < proposal_id <= MAX_ID else None
        if found is None:
            raise FeedbackError(f"no proposal with id {proposal_id}; see `aistock loop proposals`")
        instances = {ref: resolve_instance(db, ref) for ref in found.changes} if action == "approve" else {}
    with db.session() as s:
        row = s.get(FeedbackProposal, int(proposal_id), with_for_update=not db.is_sqlite)
        if row.status != "pending":
            raise FeedbackError(f"proposal {proposal_id} is already {row.status}; decisions are final")
        decision = FeedbackDecision(proposal_id=row.id, decision=DECISIONS[action], decided_by=by.strip(),
                                    decided_at=at, note=note)
        s.add(decision)
        s.flush()
        row.status = DECISIONS[action]
        if action == "approve":
            for ref, changes in row.changes.items():
                instance = instances[ref]
                latest = _latest(s, ref)
                if latest is None:
                    latest = ParamVersion(instance=ref, version=1, params=baseline_params(db, instance), created_at=at)
                    s.add(latest)
                params = dict(latest.params)
                for path, value in changes.items():
                    params = set_path(params, path, value)
                try:
                    _apply(s, instance, params)
                except AistockError as exc:
                    raise FeedbackError(f"proposal {proposal_id} cannot be applied to {ref}: {exc}") from None
                s.add(ParamVersion(instance=ref, version=latest.version + 1, params=params, decision_id=decision.id,
                                   created_at=at))
        s.flush()
        return _view(row)


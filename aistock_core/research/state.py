"""The research state a trading day runs on: which catalog snapshot, bundles, models and factor code were current.

A day's factors, scores and orders are computed from whatever research the app DB holds at that moment; this
module names it (the last successful sync run, and the content hashes of the live bundles, model configs and
SOTA factor code) and reduces it to one fingerprint, so two days traded on the same research carry the same
fingerprint and a day's lineage can be traced back to the research results behind it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from aistock_core.db.models.research import ResearchBundle, ResearchFactorCode, ResearchModel, ResearchSyncRun


@dataclass(frozen=True)
class ResearchState:
    """The last successful sync run and the live (not removed) research entries with their content hashes."""

    sync_run: int | None
    synced_at: str | None
    cursor: str | None
    source: str | None
    bundles: dict[str, str] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    factor_code: dict[str, str] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        """sha256 of the entries and their hashes (not of the sync run: a re-sync of the same research is the same
        state)."""
        payload = json.dumps([self.bundles, self.models, self.factor_code], sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()


def current_research_state(session: Session) -> ResearchState:
    """The research state in the app DB now (empty entries before the first sync)."""
    run = session.execute(
        select(ResearchSyncRun).where(ResearchSyncRun.status.in_(("ok", "partial")))
        .order_by(ResearchSyncRun.id.desc()).limit(1)
    ).scalar_one_or_none()
    bundles = dict(session.execute(select(ResearchBundle.asset_bundle_id, ResearchBundle.content_hash)
                                   .where(ResearchBundle.removed_at.is_(None))).all())
    models = dict(session.execute(select(ResearchModel.model_id, ResearchModel.content_hash)
                                  .where(ResearchModel.removed_at.is_(None))).all())
    code = {f"{task}/{name}": sha for task, name, sha in session.execute(
        select(ResearchFactorCode.task_id, ResearchFactorCode.factor_name, ResearchFactorCode.code_sha256)
        .where(ResearchFactorCode.removed_at.is_(None))).all()}
    return ResearchState(
        sync_run=run.id if run else None,
        synced_at=run.finished_at.isoformat() if run and run.finished_at else None,
        cursor=run.cursor_after if run else None,
        source=run.source if run else None,
        bundles=bundles, models=models, factor_code=code,
    )

"""Research catalog tables: what RD-Agent produced, synced by natural key (rdagent.md §14.9).

Every synced table carries the same bookkeeping (`Synced`): ``content_hash`` (sha256 of the normalised entry,
what "changed" means), ``payload`` (the full normalised entry, extra fields included), ``first_seen_at``,
``synced_at`` (last time the content changed) and ``removed_at`` (set when a full snapshot no longer holds the
key; rows are never deleted, so marks and joins keep working). Backtest KPIs live only in
`ResearchLoopKpi` (REQ-LOOP-P2-003), one row per loop and cost basis.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from aistock_core.db.base import Base


class Synced:
    """Bookkeeping columns of a row that mirrors a peer entry."""

    content_hash: Mapped[str] = mapped_column(String(64))
    payload: Mapped[Any] = mapped_column(JSON)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    synced_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ResearchFactor(Synced, Base):
    """factor_catalog entry. Names repeat with different expressions, so the key adds the expression's md5."""

    __tablename__ = "research_factors"

    name: Mapped[str] = mapped_column(String(256), primary_key=True)
    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    expr_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    expression: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    impl_func: Mapped[str | None] = mapped_column(String(256))


class ResearchAlphaFactor(Synced, Base):
    """alpha158/alpha360 meta entry (Qlib expression syntax kept as is)."""

    __tablename__ = "research_alpha_factors"

    alpha_set: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    expression: Mapped[str] = mapped_column(Text)


class ResearchStrategy(Synced, Base):
    __tablename__ = "research_strategies"

    strategy_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    step_name: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str | None] = mapped_column(String(32))
    strategy_class: Mapped[str | None] = mapped_column(String(128))
    topk: Mapped[int | None] = mapped_column(Integer)
    n_drop: Mapped[int | None] = mapped_column(Integer)
    benchmark: Mapped[str | None] = mapped_column(String(16))
    market: Mapped[str | None] = mapped_column(String(64))


class ResearchLoop(Synced, Base):
    """A loop as the loop catalog and the registry (``/catalog/incremental``) describe it; no KPIs here."""

    __tablename__ = "research_loops"

    task_run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    loop_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    workspace_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str | None] = mapped_column(String(32))
    strategy_id: Mapped[str | None] = mapped_column(String(64))
    asset_bundle_id: Mapped[str | None] = mapped_column(String(64), index=True)
    is_solidified: Mapped[bool | None] = mapped_column(Boolean)
    sync_status: Mapped[str | None] = mapped_column(String(16))
    decision: Mapped[bool | None] = mapped_column(Boolean)
    factor_names: Mapped[Any] = mapped_column(JSON)
    in_catalog: Mapped[bool] = mapped_column(Boolean)
    updated_at_utc: Mapped[str | None] = mapped_column(String(40))


class ResearchLoopKpi(Synced, Base):
    """The only backtest-KPI fact table. ``scope`` 'task_run' (catalog/registry) or 'task' (/tasks/{id}/loops).

    ``cost_basis`` says whether the figures are net of trading costs ('with_cost') or not ('without_cost');
    RD-Agent mixes both under the same names depending on the endpoint (rdagent.md §14.8).
    """

    __tablename__ = "research_loop_kpis"

    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    loop_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    cost_basis: Mapped[str] = mapped_column(String(16), primary_key=True)
    annualized_return: Mapped[float | None] = mapped_column(Float)
    max_drawdown: Mapped[float | None] = mapped_column(Float)
    information_ratio: Mapped[float | None] = mapped_column(Float)
    mean_return: Mapped[float | None] = mapped_column(Float)
    std_return: Mapped[float | None] = mapped_column(Float)
    win_rate: Mapped[float | None] = mapped_column(Float)
    ic: Mapped[float | None] = mapped_column(Float)
    ic_ir: Mapped[float | None] = mapped_column(Float)
    rank_ic: Mapped[float | None] = mapped_column(Float)
    rank_ic_ir: Mapped[float | None] = mapped_column(Float)


class ResearchModel(Synced, Base):
    __tablename__ = "research_models"

    model_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    task_run_id: Mapped[str | None] = mapped_column(String(64))
    loop_id: Mapped[int | None] = mapped_column(Integer)
    model_type: Mapped[str | None] = mapped_column(String(128))
    model_class: Mapped[str | None] = mapped_column(String(128))


class ResearchArtifact(Synced, Base):
    """A registry artifact of a loop with its file list (paths relative to the RD-Agent workspace)."""

    __tablename__ = "research_artifacts"

    artifact_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    task_run_id: Mapped[str] = mapped_column(String(64), index=True)
    loop_id: Mapped[int] = mapped_column(Integer)
    artifact_type: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(256))
    status: Mapped[str | None] = mapped_column(String(16))


class ResearchBundle(Synced, Base):
    """A production bundle; its files are blobs in the content-addressed store."""

    __tablename__ = "research_bundles"

    asset_bundle_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    task_run_id: Mapped[str | None] = mapped_column(String(64))
    loop_id: Mapped[int | None] = mapped_column(Integer)
    n_files: Mapped[int] = mapped_column(Integer)
    total_bytes: Mapped[int] = mapped_column(BigInteger)


class ResearchBundleFile(Synced, Base):
    __tablename__ = "research_bundle_files"

    asset_bundle_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    path: Mapped[str] = mapped_column(String(512), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)


class ResearchBundleFactor(Synced, Base):
    """factor_registry row: which factor a solidified bundle carries (from ``/catalog/incremental``)."""

    __tablename__ = "research_bundle_factors"

    factor_name: Mapped[str] = mapped_column(String(256), primary_key=True)
    asset_bundle_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    expression: Mapped[str | None] = mapped_column(Text)
    task_run_id: Mapped[str | None] = mapped_column(String(64))
    loop_id: Mapped[int | None] = mapped_column(Integer)


class ResearchTask(Synced, Base):
    """An RD-Agent task (log dir), the identity of the task endpoints; ≠ task_run_id (rdagent.md §0)."""

    __tablename__ = "research_tasks"

    task_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    updated_at_utc: Mapped[str | None] = mapped_column(String(40))
    has_sota: Mapped[bool] = mapped_column(Boolean)


class ResearchTaskLoop(Synced, Base):
    """``/tasks/{id}/loops`` item without its KPIs (those go to `ResearchLoopKpi`, scope 'task', with cost)."""

    __tablename__ = "research_task_loops"

    task_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    loop_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    exp_type: Mapped[str | None] = mapped_column(String(64))
    is_sota: Mapped[bool] = mapped_column(Boolean)
    decision: Mapped[bool | None] = mapped_column(Boolean)


class ResearchFactorCode(Synced, Base):
    """SOTA factor source (factor.py), the authoritative implementation (rdagent.md §7), with where it came from."""

    __tablename__ = "research_factor_code"

    task_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    factor_name: Mapped[str] = mapped_column(String(256), primary_key=True)
    origin: Mapped[str] = mapped_column(String(128))
    code_sha256: Mapped[str] = mapped_column(String(64))
    source_code: Mapped[str] = mapped_column(Text)


class ResearchTaskFile(Synced, Base):
    """A file fetched with ``asset_bytes`` (model weights, model_meta.json, factor.py), stored as a blob."""

    __tablename__ = "research_task_files"

    task_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(256), primary_key=True)
    origin: Mapped[str | None] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)


class ResearchSyncRun(Base):
    """One sync attempt: source, mode, cursor, per-table counts, errors. Failed runs are recorded too."""

    __tablename__ = "research_sync_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(1024))
    mode: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cursor_before: Mapped[str | None] = mapped_column(String(40))
    cursor_after: Mapped[str | None] = mapped_column(String(40))
    counts: Mapped[Any] = mapped_column(JSON)
    errors: Mapped[Any] = mapped_column(JSON)


class ResearchMark(Base):
    """A user's mark on a catalog entry: candidate for paper/live trading, with a note, who and when."""

    __tablename__ = "research_marks"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(320), primary_key=True)
    candidate: Mapped[str | None] = mapped_column(String(8))
    note: Mapped[str | None] = mapped_column(Text)
    marked_by: Mapped[str] = mapped_column(String(128))
    marked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

"""Sync RD-Agent's research results into the app DB: full snapshots and incremental pulls.

A sync first *collects* everything from the source into memory, validated and normalised (a bad entry stops it
here, before any write), then writes blobs (content-addressed, idempotent) and applies all rows in **one
transaction** with the sync-run record. So a failure anywhere leaves the tables as they were; the failure
itself is recorded in ``research_sync_runs`` in a separate transaction.

What "changed" means is decided by ``content_hash`` per natural key: new, changed, unchanged (not written at
all, so a repeated full sync touches nothing) and removed (a full snapshot no longer holds the key:
``removed_at`` is set, the row kept). Per-task extractor failures (the peer answers 500 for a task whose
session cannot be loaded) are recorded as errors and leave that task's rows untouched; the run is 'partial'.

Unreadable is not absent: a source file that exists but cannot be parsed fails the sync. And absent is not
"deleted": a whole part of the source that vanished (the registry, the task snapshots, an alpha meta) while
rows from it are stored stops the sync unless ``allow_removals`` says the removal is meant.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, bindparam, select, update
from sqlalchemy.orm import Session

from aistock_core.db import Database
from aistock_core.db.models.research import (
    ResearchAlphaFactor,
    ResearchArtifact,
    ResearchBundle,
    ResearchBundleFactor,
    ResearchBundleFile,
    ResearchFactor,
    ResearchFactorCode,
    ResearchLoop,
    ResearchLoopKpi,
    ResearchModel,
    ResearchStrategy,
    ResearchSyncRun,
    ResearchTask,
    ResearchTaskFile,
    ResearchTaskLoop,
)
from aistock_core.db.upsert import upsert
from aistock_core.errors import AistockError, CatalogError
from aistock_core.research import rows as R
from aistock_core.research.bundles import BlobStore, read_bundle
from aistock_core.research.entries import (
    AlignedFactor,
    AlphaFactor,
    Artifact,
    FactorEntry,
    IncrementalLoop,
    LoopEntry,
    ModelEntry,
    StrategyEntry,
    TaskItem,
    TaskLoop,
    TaskSummary,
    parse_entries,
    section,
    unique_by,
)
from aistock_core.research.normalise import content_hash
from aistock_core.research.source import ALPHA_SETS, TASK_ASSET_KEYS, NotFound, ResearchSource

#: Rows a "what changed" sample keeps per table and kind (metadata, CLI output).
SAMPLE = 20
INCREMENTAL_PAGE = 1000
TASK_PAGE = 200
BOOKKEEPING = ("content_hash", "first_seen_at", "synced_at", "removed_at")
#: Concurrent per-loop requests (artifacts, bundles). The peer answers each from SQLite or disk; overlapping the
#: round trips is what makes 1,000 loops fit in seconds. Results are consumed in input order, so the outcome does
#: not depend on timing.
WORKERS = 8


@dataclass
class TableCounts:
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0
    sample: dict[str, list[str]] = field(default_factory=lambda: {"new": [], "changed": [], "removed": []})

    def as_dict(self) -> dict[str, Any]:
        return {"new": self.new, "changed": self.changed, "unchanged": self.unchanged, "removed": self.removed,
                "sample": self.sample}


@dataclass
class SyncReport:
    run_id: int
    source: str
    mode: str
    status: str
    cursor_before: str | None
    cursor_after: str | None
    counts: dict[str, TableCounts]
    errors: list[str]

    @property
    def changed(self) -> bool:
        return any(c.new or c.changed or c.removed for c in self.counts.values())


@dataclass
class TablePlan:
    """Rows a sync wants in a table, and which existing keys it may mark removed (None: never)."""

    rows: list[R.Row]
    removable: Callable[[tuple], bool] | None = None


@dataclass(frozen=True)
class Vanished:
    """A part of the source that answered "not found": which stored rows a full sync would mark removed."""

    what: str
    model: type
    covers: Callable[[tuple], bool]


@dataclass
class Collected:
    plans: dict[type, TablePlan] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    cursor: str | None = None
    errors: list[str] = field(default_factory=list)
    new_bundles: list[str] = field(default_factory=list)
    vanished: list[Vanished] = field(default_factory=list)

    def add(self, model: type, rows: Iterable[R.Row], removable: Callable[[tuple], bool] | None = None) -> None:
        plan = self.plans.setdefault(model, TablePlan([], removable))
        plan.rows.extend(rows)
        if removable is not None:
            plan.removable = removable


def _all(_key: tuple) -> bool:
    return True


# -- collection ---------------------------------------------------------------------------------------------
def _catalog(source: ResearchSource, kind: str, model: type, ident: tuple[str, ...]) -> list:
    try:
        data = source.catalog(kind)  # type: ignore[arg-type]
    except NotFound as exc:
        raise CatalogError(
            f"the {kind} catalog is missing at {source.label} ({exc}); RD-Agent's exporters have not run (or the file "
            f"vanished mid-sync): run them on the RD-Agent side, then sync again"
        ) from None
    return parse_entries(f"{kind} catalog", model, section(f"{kind} catalog", data, kind), ident)


def _registry_loops(source: ResearchSource, cursor: str | None, page: int,
                    got: Collected | None = None) -> list[IncrementalLoop]:
    """Every solidified loop after ``cursor``, paging on ``updated_at_utc`` (the peer compares strings)."""
    out: list[IncrementalLoop] = []
    while True:
        try:
            data = source.incremental(cursor, page)
        except NotFound:  # no registry: catalogs only
            if got is not None:
                got.vanished += [Vanished("the registry", m, _all) for m in (ResearchArtifact, ResearchBundleFactor)]
            return out
        batch = parse_entries("incremental loops", IncrementalLoop, section("incremental", data, "loops"),
                              ("task_run_id", "loop_id"))
        out.extend(batch)
        if len(batch) < page:
            return out
        cursor = batch[-1].updated_at_utc


def _parallel(fn: Callable[[Any], Any], items: Sequence[Any], workers: int) -> list[Any]:
    """``[fn(x) for x in items]`` with up to ``workers`` in flight; the first exception propagates."""
    if workers <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="research-sync") as pool:
        return list(pool.map(fn, items))


def _bundles(source: ResearchSource, ids: Iterable[str], known: set[str], got: Collected,
             workers: int = WORKERS) -> None:
    """Fetch and validate new bundles. One that cannot be fetched is an error of the run ('partial'); one whose
    content is refused (path traversal, a link, a bomb) fails the whole sync: it is hostile or corrupt input."""
    def fetch(bundle_id: str) -> Any:
        try:
            data = source.bundle(bundle_id)
        except NotFound as exc:
            return exc
        return read_bundle(bundle_id, data)

    wanted = sorted(set(ids) - known)
    for bundle_id, bundle in zip(wanted, _parallel(fetch, wanted, workers), strict=True):
        if isinstance(bundle, NotFound):
            got.errors.append(f"bundle {bundle_id}: {bundle}")
            continue
        head, files = R.bundle_rows(bundle)
        got.add(ResearchBundle, [head])
        got.add(ResearchBundleFile, files)
        got.blobs.update(bundle.blobs)
        got.new_bundles.append(bundle_id)


def _registry_part(reg: list[IncrementalLoop], cats: dict[tuple, LoopEntry], got: Collected,
                   removable: Callable[[tuple], bool] | None) -> None:
    regs = {(r.task_run_id, r.loop_id): r for r in reg}
    keys = list(dict.fromkeys([*cats, *regs]))
    loops = [R.loop_row(cats.get(k), regs.get(k)) for k in keys]
    got.add(ResearchLoop, loops, removable)
    kpis = [row for k in keys
            for row in R.kpi_rows("task_run", k[0], k[1], R.loop_metrics(cats.get(k), regs.get(k)), "catalog+registry")]
    got.add(ResearchLoopKpi, kpis, (lambda key: key[0] == "task_run") if removable else None)
    got.add(ResearchBundleFactor, [R.bundle_factor_row(f) for r in reg for f in r.factors], removable)
    if reg:
        got.cursor = max(r.updated_at_utc for r in reg)


def _tasks(source: ResearchSource, got: Collected) -> None:
    items: list[TaskItem] = []
    offset = 0
    while True:
        try:
            data = source.tasks(TASK_PAGE, offset)
        except NotFound:
            got.vanished.append(Vanished("the task snapshots", ResearchTask, _all))
            return
        batch = parse_entries("tasks", TaskItem, section("tasks", data, "items"), ("task_id",))
        items.extend(batch)
        if len(batch) < TASK_PAGE:
            break
        offset += TASK_PAGE
    ok: set[str] = set()
    failed: set[str] = set()
    task_rows, loop_rows, kpis, codes, files = [], [], [], [], []
    for item in unique_by(items, lambda t: t.task_id):
        tid = item.task_id
        try:
            summary = TaskSummary.model_validate(source.task_summary(tid)).payload()
            loops = parse_entries(f"task {tid} loops", TaskLoop, section("task loops", source.task_loops(tid), "loops"),
                                  ("loop_id",))
            aligned = source.sota_aligned(tid).get("aligned_factors") or {}
            factors = parse_entries(f"task {tid} aligned SOTA factors", AlignedFactor, list(aligned.values()),
                                    ("factor_name",))
            fetched = []
            for key in TASK_ASSET_KEYS:
                try:
                    fetched.append((key, *source.asset_bytes(tid, key)))
                except NotFound:
                    continue
        except AistockError as exc:  # this task's stored rows stay as they are (not rewritten, not removed)
            got.errors.append(f"task {tid}: {exc}")
            failed.add(tid)
            continue
        except ValueError as exc:  # pydantic on a summary
            got.errors.append(f"task {tid}: malformed summary: {exc}")
            failed.add(tid)
            continue
        ok.add(tid)
        task_rows.append(R.task_row(item, summary))
        loops = unique_by(loops, lambda lp: lp.loop_id)
        loop_rows += [R.task_loop_row(tid, lp) for lp in loops]
        kpis += [row for lp in loops for row in R.task_loop_kpi_rows(tid, lp)]
        codes += [R.factor_code_row(tid, f) for f in unique_by(factors, lambda f: f.factor_name)]
        for key, data_bytes, origin in fetched:
            sha = hashlib.sha256(data_bytes).hexdigest()
            got.blobs[sha] = data_bytes
            files.append(R.task_file_row(tid, key, origin, sha, len(data_bytes)))

    def in_ok(key: tuple) -> bool:
        return key[0] in ok

    got.add(ResearchTask, task_rows, lambda key: key[0] not in failed)
    got.add(ResearchTaskLoop, loop_rows, in_ok)
    got.add(ResearchLoopKpi, kpis, lambda key: key[0] == "task_run" or (key[0] == "task" and key[1] in ok))
    got.add(ResearchFactorCode, codes, in_ok)
    got.add(ResearchTaskFile, files, in_ok)


def collect_full(
    source: ResearchSource, known_bundles: set[str], *, page: int = INCREMENTAL_PAGE, workers: int = WORKERS
) -> Collected:
    """Everything the source holds, as rows. Raises before any write if a required catalog is bad or missing."""
    got = Collected()
    factors = _catalog(source, "factors", FactorEntry, ("name", "source"))
    strategies = _catalog(source, "strategies", StrategyEntry, ("strategy_id",))
    loops = _catalog(source, "loops", LoopEntry, ("task_run_id", "loop_id"))
    models = _catalog(source, "models", ModelEntry, ("model_id", "task_run_id", "loop_id"))
    got.add(ResearchFactor, unique_by((R.factor_row(f) for f in factors),
                                      lambda r: (r["name"], r["source"], r["expr_key"])), _all)
    got.add(ResearchStrategy, [R.strategy_row(s) for s in unique_by(strategies, lambda s: s.strategy_id)], _all)
    got.add(ResearchModel, [R.model_row(m) for m in unique_by(models, lambda m: m.model_id)], _all)
    alpha_rows = []
    for which in ALPHA_SETS:
        try:
            meta = source.alpha_meta(which)
        except NotFound:  # alpha360 is usually never exported
            got.vanished.append(Vanished(f"the {which} meta", ResearchAlphaFactor, lambda key, w=which: key[0] == w))
            continue
        entries = parse_entries(f"{which} meta", AlphaFactor, section(f"{which} meta", meta, "factors"))
        alpha_rows += [R.alpha_row(which, e) for e in unique_by(entries, lambda e: e.name)]
    got.add(ResearchAlphaFactor, alpha_rows, _all)

    cats = {(lp.task_run_id, lp.loop_id): lp for lp in loops}
    reg = _registry_loops(source, None, page, got)
    _registry_part(reg, cats, got, _all)
    def loop_artifacts(key: tuple) -> list[R.Row]:
        trid, lid = key
        try:
            payload = source.loop_artifacts(trid, lid)
        except NotFound:
            return []  # no registry behind this source
        entries = parse_entries(f"artifacts of loop {trid}/{lid}", Artifact, section("artifacts", payload, "artifacts"),
                                ("artifact_id",))
        return [R.artifact_row(trid, lid, a) for a in entries]

    artifacts = [row for rows in _parallel(loop_artifacts, list(cats), workers) for row in rows]
    got.add(ResearchArtifact, unique_by(artifacts, lambda r: r["artifact_id"]), _all)
    bundle_ids = {lp.asset_bundle_id for lp in loops if lp.asset_bundle_id} | {
        r.asset_bundle_id for r in reg if r.asset_bundle_id}
    _bundles(source, bundle_ids, known_bundles, got, workers)
    _tasks(source, got)
    return got


def collect_incremental(
    source: ResearchSource, cursor: str | None, catalog_loops: Callable[[set[tuple]], dict[tuple, LoopEntry]],
    known_bundles: set[str], *, page: int = INCREMENTAL_PAGE,
) -> Collected:
    """Loops (and their bundles) the registry changed after ``cursor``; never removes anything.

    ``catalog_loops(keys)`` gives the stored catalog halves of those loops (read only when something changed).
    """
    got = Collected(cursor=cursor)
    reg = _registry_loops(source, cursor, page)
    if reg:
        _registry_part(reg, catalog_loops({(r.task_run_id, r.loop_id) for r in reg}), got, None)
        _bundles(source, {r.asset_bundle_id for r in reg if r.asset_bundle_id}, known_bundles, got)
    return got


# -- applying -----------------------------------------------------------------------------------------------
def _table_name(model: type) -> str:
    return model.__tablename__.removeprefix("research_")  # type: ignore[attr-defined]


def apply_plan(session: Session, model: type, plan: TablePlan, now: datetime) -> TableCounts:
    """Write one table's plan; return what happened. Unchanged rows are not touched."""
    table = model.__table__  # type: ignore[attr-defined]
    pk = [c.name for c in table.primary_key.columns]
    counts = TableCounts()
    if not plan.rows and plan.removable is None:
        return counts
    existing = {
        tuple(row[:-2]): (row[-2], row[-1])
        for row in session.execute(select(*[table.c[k] for k in pk], table.c.content_hash, table.c.removed_at))
    }
    writes: list[dict[str, Any]] = []
    wanted: set[tuple] = set()
    for row in plan.rows:
        key = tuple(row[k] for k in pk)
        wanted.add(key)
        digest = content_hash({k: v for k, v in row.items() if k not in BOOKKEEPING})
        before = existing.get(key)
        if before is None:
            kind = "new"
        elif before[0] != digest or before[1] is not None:
            kind = "changed"
        else:
            counts.unchanged += 1
            continue
        setattr(counts, kind, getattr(counts, kind) + 1)
        if len(counts.sample[kind]) < SAMPLE:
            counts.sample[kind].append("/".join(str(k) for k in key))
        writes.append({**row, "content_hash": digest, "synced_at": now, "removed_at": None, "first_seen_at": now})
    if writes:
        upsert(session, model, writes, key=pk, update=[c for c in writes[0] if c not in (*pk, "first_seen_at")])
    if plan.removable is not None:
        gone = [k for k, (_, removed) in existing.items() if removed is None and k not in wanted and plan.removable(k)]
        if gone:
            stmt = (update(table).where(and_(*[table.c[k] == bindparam(f"k_{k}") for k in pk]))
                    .values(removed_at=now))
            session.execute(stmt, [{f"k_{k}": v for k, v in zip(pk, key, strict=True)} for key in gone])
            counts.removed = len(gone)
            counts.sample["removed"] = ["/".join(str(v) for v in key) for key in gone[:SAMPLE]]
    return counts


# -- entry point --------------------------------------------------------------------------------------------
def last_cursor(session: Session) -> str | None:
    """``cursor_after`` of the latest successful (ok/partial) run."""
    return session.execute(
        select(ResearchSyncRun.cursor_after).where(ResearchSyncRun.status.in_(("ok", "partial")))
        .order_by(ResearchSyncRun.id.desc()).limit(1)
    ).scalar()


def _catalog_loops(db: Database, keys: set[tuple]) -> dict[tuple, LoopEntry]:
    """The catalog halves of stored loops, so an incremental update rebuilds rows exactly as a full sync would."""
    out: dict[tuple, LoopEntry] = {}
    with db.session() as session:
        stored = session.execute(
            select(ResearchLoop.task_run_id, ResearchLoop.loop_id, ResearchLoop.payload).where(ResearchLoop.in_catalog)
        ).all()
    for trid, lid, payload in stored:
        if (trid, lid) in keys and payload and payload.get("catalog"):
            out[(trid, lid)] = LoopEntry.model_validate(payload["catalog"])
    return out


def _refuse_vanished(session: Session, got: Collected, source: str) -> None:
    """`CatalogError` when a vanished part of the source held stored rows that a sync would mark removed."""
    for gone in got.vanished:
        table = gone.model.__table__  # type: ignore[attr-defined]
        pk = [table.c[c.name] for c in table.primary_key.columns]
        live = [tuple(row) for row in session.execute(select(*pk).where(table.c.removed_at.is_(None)))]
        count = sum(1 for key in live if gone.covers(key))
        if count:
            raise CatalogError(
                f"{gone.what} is missing at {source}, yet {count} stored {_table_name(gone.model)} row(s) came from "
                f"it; nothing was changed. Restore it, or sync with --allow-removals to mark those rows removed"
            )


def _record_failure(
    db: Database, source: str, mode: str, started: datetime, cursor: str | None, exc: Exception
) -> None:
    with db.session() as session:
        session.add(ResearchSyncRun(source=source, mode=mode, status="failed", started_at=started,
                                    finished_at=datetime.now(UTC), cursor_before=cursor, cursor_after=cursor,
                                    counts={}, errors=[f"{type(exc).__name__}: {exc}"]))


def sync(
    db: Database,
    source: ResearchSource,
    blob_root: Path,
    *,
    incremental: bool = False,
    confirm: bool = False,
    allow_removals: bool = False,
) -> SyncReport:
    """One sync run (full snapshot, or incremental from the last run's cursor). See the module docstring."""
    mode = "incremental" if incremental else "full"
    if confirm:
        source.check_can_confirm()  # before anything is written, not after the sync committed
    started = datetime.now(UTC)
    with db.session() as session:
        cursor = last_cursor(session)
        known = set(session.execute(select(ResearchBundle.asset_bundle_id)).scalars())
    try:
        if incremental:
            got = collect_incremental(source, cursor, lambda keys: _catalog_loops(db, keys), known)
        else:
            got = collect_full(source, known)
        if not allow_removals:
            with db.session() as session:
                _refuse_vanished(session, got, source.label)
        store = BlobStore(blob_root)
        for sha, data in got.blobs.items():
            store.put(data, sha)
        now = datetime.now(UTC)
        with db.session() as session:
            counts = {_table_name(m): apply_plan(session, m, plan, now) for m, plan in got.plans.items()}
            run = ResearchSyncRun(
                source=source.label, mode=mode, status="partial" if got.errors else "ok", started_at=started,
                finished_at=datetime.now(UTC), cursor_before=cursor, cursor_after=got.cursor or cursor,
                counts={k: v.as_dict() for k, v in counts.items()}, errors=got.errors,
            )
            session.add(run)
            session.flush()
            run_id = run.id
    except Exception as exc:
        _record_failure(db, source.label, mode, started, cursor, exc)
        raise
    if confirm:
        for bundle_id in got.new_bundles:
            source.confirm_sync(bundle_id)
    return SyncReport(run_id, source.label, mode, run.status, cursor, got.cursor or cursor, counts, got.errors)

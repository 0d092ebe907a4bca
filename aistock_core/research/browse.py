"""Browse the synced catalogs: list with filters and sorting, show one entry, the top loops by IR.

Lists come back as DataFrames (the CLI renders them; Dagster metadata embeds them as markdown). Loops carry
their KPIs from the KPI fact table, both cost bases side by side and labelled (``ir`` without cost, ``ir_wc``
with cost), and every list carries the user's mark, so "what did we pick for paper trading" is one query.
Filters are ``column<op>value`` with ops ``= != > >= < <= ~`` (``~``: case-insensitive substring).
"""

from __future__ import annotations

import operator
import re
from typing import Any, Literal

import pandas as pd
from sqlalchemy import select

from aistock_core.db import Database
from aistock_core.db.models.research import (
    ResearchArtifact,
    ResearchBundle,
    ResearchBundleFile,
    ResearchFactor,
    ResearchLoop,
    ResearchLoopKpi,
    ResearchMark,
    ResearchModel,
    ResearchStrategy,
)
from aistock_core.errors import CatalogError

ListKind = Literal["factors", "strategies", "loops", "models"]
LIST_KINDS: tuple[ListKind, ...] = ("factors", "strategies", "loops", "models")
MARK_KIND = {"factors": "factor", "strategies": "strategy", "loops": "loop", "models": "model"}
_FILTER = re.compile(r"^\s*(?P<col>[A-Za-z_][\w]*)\s*(?P<op>>=|<=|!=|=|>|<|~)\s*(?P<val>.*)$")
_OPS = {"=": operator.eq, "!=": operator.ne, ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
KPI_COLUMNS = {"annualized_return": "ann_ret", "max_drawdown": "mdd", "information_ratio": "ir", "ic": "ic",
               "ic_ir": "icir"}


def _frame(db: Database, stmt: Any) -> pd.DataFrame:
    with db.engine.connect() as conn:
        result = conn.execute(stmt)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def _loop_kpis(db: Database) -> pd.DataFrame:
    kpis = _frame(db, select(ResearchLoopKpi.run_id, ResearchLoopKpi.loop_id, ResearchLoopKpi.cost_basis,
                             *[getattr(ResearchLoopKpi, c) for c in KPI_COLUMNS])
                  .where(ResearchLoopKpi.scope == "task_run"))
    if kpis.empty:
        return pd.DataFrame(columns=["task_run_id", "loop_id"])
    wide = kpis.pivot_table(index=["run_id", "loop_id"], columns="cost_basis", values=list(KPI_COLUMNS),
                            aggfunc="first", dropna=False)
    out = pd.DataFrame(index=wide.index)
    for col, short in KPI_COLUMNS.items():
        for basis, suffix in (("without_cost", ""), ("with_cost", "_wc")):
            if short in ("ic", "icir") and suffix:
                continue  # IC does not depend on costs
            out[short + suffix] = wide[(col, basis)] if (col, basis) in wide.columns else float("nan")
    return out.reset_index().rename(columns={"run_id": "task_run_id"})


def _base(db: Database, kind: ListKind) -> pd.DataFrame:
    if kind == "factors":
        df = _frame(db, select(ResearchFactor.name, ResearchFactor.source, ResearchFactor.expression,
                               ResearchFactor.impl_func, ResearchFactor.payload, ResearchFactor.removed_at))
        df["best_sharpe"] = [p.get("best_sharpe") for p in df["payload"]]
        df["best_ann_ret"] = [p.get("best_ann_return") for p in df["payload"]]
        df["key"] = df["name"]
    elif kind == "strategies":
        df = _frame(db, select(ResearchStrategy.strategy_id, ResearchStrategy.strategy_class, ResearchStrategy.topk,
                               ResearchStrategy.n_drop, ResearchStrategy.benchmark, ResearchStrategy.market,
                               ResearchStrategy.action, ResearchStrategy.removed_at))
        df["key"] = df["strategy_id"]
    elif kind == "models":
        df = _frame(db, select(ResearchModel.model_id, ResearchModel.model_class, ResearchModel.model_type,
                               ResearchModel.task_run_id, ResearchModel.loop_id, ResearchModel.removed_at))
        df["key"] = df["model_id"]
    else:
        df = _frame(db, select(ResearchLoop.task_run_id, ResearchLoop.loop_id, ResearchLoop.action,
                               ResearchLoop.status, ResearchLoop.decision, ResearchLoop.factor_names,
                               ResearchLoop.strategy_id, ResearchLoop.asset_bundle_id, ResearchLoop.sync_status,
                               ResearchLoop.removed_at))
        df["n_factors"] = [len(f or []) for f in df["factor_names"]]
        df["factor_names"] = [", ".join(f or []) for f in df["factor_names"]]
        df = df.merge(_loop_kpis(db), on=["task_run_id", "loop_id"], how="left")
        df["key"] = df["task_run_id"] + "/" + df["loop_id"].astype(str)
    return df.drop(columns=["payload"], errors="ignore")


def _apply_filter(df: pd.DataFrame, text: str) -> pd.DataFrame:
    m = _FILTER.match(text)
    if not m:
        raise CatalogError(f"cannot parse filter {text!r}; write column<op>value with op one of = != > >= < <= ~")
    col, op, raw = m["col"], m["op"], m["val"].strip()
    if raw[:1] in ("<", ">", "=", "!", "~"):  # 'ann_ret>>0.1' would compare with the text '>0.1': match nothing
        raise CatalogError(f"cannot parse filter {text!r}: the value {raw!r} starts with an operator; write "
                           f"column<op>value with op one of = != > >= < <= ~")
    if col not in df.columns:
        raise CatalogError(f"filter {text!r}: no column {col!r}; columns: {', '.join(df.columns)}")
    series = df[col]
    if op == "~":
        return df[series.astype(str).str.contains(raw, case=False, regex=False, na=False)]
    numeric = pd.to_numeric(series, errors="coerce")
    try:
        value: Any = float(raw)
        left = numeric
    except ValueError:
        if raw.lower() in ("true", "false"):
            value, left = raw.lower() == "true", series
        elif op in (">", ">=", "<", "<=") and pd.api.types.is_numeric_dtype(series):
            raise CatalogError(f"filter {text!r}: column {col!r} is numeric but {raw!r} is not a number") from None
        else:
            value, left = raw, series.astype(str)
    return df[_OPS[op](left, value).fillna(False).astype(bool)]


def list_entries(
    db: Database, kind: str, *, where: list[str] | None = None, sort: str | None = None,
    include_removed: bool = False, limit: int | None = None,
) -> pd.DataFrame:
    """A catalog as a frame with marks joined; ``sort`` is a column, ``-column`` for descending."""
    if kind not in LIST_KINDS:
        raise CatalogError(f"unknown catalog {kind!r}; use one of {', '.join(LIST_KINDS)}")
    df = _base(db, kind)  # type: ignore[arg-type]
    marks = _frame(db, select(ResearchMark.key, ResearchMark.candidate, ResearchMark.note)
                   .where(ResearchMark.kind == MARK_KIND[kind]))
    df = df.merge(marks, on="key", how="left")
    if not include_removed:
        df = df[df["removed_at"].isna()]
    df = df.drop(columns=["removed_at"])
    for text in where or []:
        df = _apply_filter(df, text)
    if sort:
        col = sort.lstrip("-")
        if col not in df.columns:
            raise CatalogError(f"cannot sort by {col!r}; columns: {', '.join(df.columns)}")
        df = df.sort_values(col, ascending=not sort.startswith("-"), na_position="last", kind="stable")
    df = df.reset_index(drop=True)
    return df.head(limit) if limit else df


def top_loops(db: Database, n: int = 5) -> pd.DataFrame:
    """The best ``n`` loops by information ratio without cost (with-cost IR beside it)."""
    df = list_entries(db, "loops", sort="-ir")
    cols = ["task_run_id", "loop_id", "action", "n_factors", "ann_ret", "mdd", "ir", "ir_wc", "ic"]
    return df[df["ir"].notna()][cols].head(n).reset_index(drop=True)


def show_entry(db: Database, kind: str, key: str) -> dict[str, Any]:
    """One entry in full: its stored payload, KPIs (loops), artifacts and bundle files (loops), mark."""
    listed = list_entries(db, kind, include_removed=True)
    hit = listed[listed["key"] == key]
    if hit.empty:
        raise CatalogError(f"no {kind} entry {key!r}; see `aistock catalog list {kind}`")
    out: dict[str, Any] = {"summary": hit.iloc[0].to_dict()}
    with db.session() as s:
        if kind == "factors":
            out["variants"] = [r.payload for r in s.scalars(select(ResearchFactor).where(ResearchFactor.name == key))]
        elif kind == "strategies":
            out["payload"] = s.get(ResearchStrategy, key).payload  # type: ignore[union-attr]
        elif kind == "models":
            out["payload"] = s.get(ResearchModel, key).payload  # type: ignore[union-attr]
        else:
            run_id, _, loop = key.rpartition("/")
            row = s.get(ResearchLoop, (run_id, int(loop)))
            out["payload"] = row.payload  # type: ignore[union-attr]
            out["kpis"] = [{c.name: getattr(k, c.name) for c in ResearchLoopKpi.__table__.columns
                            if c.name not in ("payload", "content_hash", "first_seen_at", "synced_at", "removed_at")}
                           for k in s.scalars(select(ResearchLoopKpi).where(ResearchLoopKpi.run_id == run_id,
                                                                            ResearchLoopKpi.loop_id == int(loop)))]
            out["artifacts"] = [{"type": a.artifact_type, "name": a.name, "files": len(a.payload.get("files", []))}
                                for a in s.scalars(select(ResearchArtifact).where(
                                    ResearchArtifact.task_run_id == run_id, ResearchArtifact.loop_id == int(loop)))]
            bundle_id = row.asset_bundle_id  # type: ignore[union-attr]
            if bundle_id and s.get(ResearchBundle, bundle_id) is not None:
                out["bundle_files"] = [{"path": f.path, "sha256": f.sha256, "size": f.size_bytes}
                                       for f in s.scalars(select(ResearchBundleFile).where(
                                           ResearchBundleFile.asset_bundle_id == bundle_id))]
    return out

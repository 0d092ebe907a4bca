"""Normalised entries → DB rows (column dicts without bookkeeping); one function per table.

Rows carry their full normalised entry as ``payload``; the columns are the parts AIstock filters, sorts and
joins on. Loops are the one merge: the loop catalog and the registry (``/catalog/incremental``) describe the
same ``(task_run_id, loop_id)``, and both a full and an incremental sync must build the identical row from the
same inputs, so `loop_row` is a pure function of the two.
"""

from __future__ import annotations

import hashlib
from typing import Any

from aistock_core.research.bundles import Bundle
from aistock_core.research.entries import (
    AlignedFactor,
    AlphaFactor,
    Artifact,
    FactorEntry,
    IncrementalLoop,
    LoopEntry,
    ModelEntry,
    RegistryFactor,
    StrategyEntry,
    TaskItem,
    TaskLoop,
)
from aistock_core.research.normalise import expression_key, kpis_from_metrics

Row = dict[str, Any]


def _int(value: Any) -> int | None:
    try:
        return None if value is None or isinstance(value, bool) else int(value)
    except (TypeError, ValueError):
        return None


def factor_row(entry: FactorEntry) -> Row:
    return {
        "name": entry.name, "source": entry.source, "expr_key": expression_key(entry.expression, entry.name),
        "expression": entry.expression, "description": entry.description_cn or getattr(entry, "description", None),
        "impl_func": entry.impl_func, "payload": entry.payload(),
    }


def alpha_row(alpha_set: str, entry: AlphaFactor) -> Row:
    return {"alpha_set": alpha_set, "name": entry.name, "expression": entry.expression, "payload": entry.payload()}


def strategy_row(entry: StrategyEntry) -> Row:
    return {
        "strategy_id": entry.strategy_id, "step_name": entry.step_name, "action": entry.action,
        "strategy_class": entry.strategy_class, "topk": _int(entry.strategy_kwarg("topk")),
        "n_drop": _int(entry.strategy_kwarg("n_drop")), "benchmark": entry.benchmark,
        "market": entry.market if isinstance(entry.market, str) else None, "payload": entry.payload(),
    }


def model_row(entry: ModelEntry) -> Row:
    return {
        "model_id": entry.model_id, "task_run_id": entry.task_run_id, "loop_id": entry.loop_id,
        "model_type": entry.model_type, "model_class": entry.model_class, "payload": entry.payload(),
    }


def loop_metrics(cat: LoopEntry | None, reg: IncrementalLoop | None) -> dict[str, float | None]:
    """One flat metric dict: registry metrics, overlaid by the catalog's (the exporters' KPI source)."""
    flat: dict[str, float | None] = dict(reg.metrics) if reg else {}
    if cat:
        flat.update({k: v for k, v in cat.metrics.items() if v is not None})
        bare = {"annualized_return": cat.annualized_return, "max_drawdown": cat.max_drawdown,
                "sharpe": cat.sharpe, "IC": cat.ic, "ICIR": cat.ic_ir, "win_rate": cat.win_rate}
        flat.update({k: v for k, v in bare.items() if v is not None and flat.get(k) is None})
    return flat


def loop_row(cat: LoopEntry | None, reg: IncrementalLoop | None) -> Row:
    if cat is None and reg is None:
        raise ValueError("loop_row needs a catalog entry or a registry row")
    key = cat or reg
    registry = reg.payload() if reg else None
    if registry is not None:
        registry.pop("factors", None)  # stored as research_bundle_factors rows
    factor_names = list(cat.factor_names) if cat else sorted({f.factor_name for f in reg.factors})  # type: ignore[union-attr]
    return {
        "task_run_id": key.task_run_id, "loop_id": key.loop_id,
        "workspace_id": (cat.workspace_id if cat else None) or (reg.best_workspace_id if reg else None),
        "action": (cat.action if cat else None) or (reg.action if reg else None),
        "status": (reg.status if reg else None) or (cat.status if cat else None),
        "strategy_id": cat.strategy_id if cat else None,
        "asset_bundle_id": (cat.asset_bundle_id if cat else None) or (reg.asset_bundle_id if reg else None),
        "is_solidified": reg.is_solidified if reg else getattr(cat, "is_solidified", None),
        "sync_status": (reg.sync_status if reg else None) or getattr(cat, "sync_status", None),
        "decision": cat.decision if cat else None,
        "factor_names": factor_names, "in_catalog": cat is not None,
        "updated_at_utc": reg.updated_at_utc if reg else None,
        "payload": {"catalog": cat.payload() if cat else None, "registry": registry},
    }


def kpi_rows(scope: str, run_id: str, loop_id: int, flat: dict[str, float | None], origin: str) -> list[Row]:
    return [
        {"scope": scope, "run_id": run_id, "loop_id": loop_id, "cost_basis": cost, **values,
         "payload": {"origin": origin}}
        for cost, values in kpis_from_metrics(flat).items()
    ]


def task_loop_kpi_rows(task_id: str, loop: TaskLoop) -> list[Row]:
    """``/tasks/{id}/loops`` figures are with cost (falling back to without): labelled 'with_cost'
    (rdagent.md §1.D ⚠)."""
    flat = {
        "1day.excess_return_with_cost.annualized_return": loop.annualized_return,
        "1day.excess_return_with_cost.max_drawdown": loop.max_drawdown,
        "1day.excess_return_with_cost.information_ratio": loop.information_ratio,
        "IC": loop.valid_score,
    }
    rows = kpi_rows("task", task_id, loop.loop_id, flat, "tasks/loops")
    return [r for r in rows if r["cost_basis"] == "with_cost"]


def artifact_row(task_run_id: str, loop_id: int, art: Artifact) -> Row:
    return {
        "artifact_id": art.artifact_id, "task_run_id": task_run_id, "loop_id": loop_id,
        "artifact_type": art.artifact_type, "name": art.name, "status": art.status, "payload": art.payload(),
    }


def bundle_rows(bundle: Bundle) -> tuple[Row, list[Row]]:
    manifest = bundle.manifest
    head = {
        "asset_bundle_id": bundle.asset_bundle_id, "task_run_id": manifest.get("task_run_id"),
        "loop_id": _int(manifest.get("loop_id")), "n_files": len(bundle.files), "total_bytes": bundle.total_bytes,
        "payload": {"manifest": manifest, "files": [[f.path, f.sha256, f.size_bytes] for f in bundle.files]},
    }
    files = [
        {"asset_bundle_id": bundle.asset_bundle_id, "path": f.path, "sha256": f.sha256, "size_bytes": f.size_bytes,
         "payload": {}}
        for f in bundle.files
    ]
    return head, files


def bundle_factor_row(factor: RegistryFactor) -> Row:
    return {
        "factor_name": factor.factor_name, "asset_bundle_id": factor.asset_bundle_id,
        "expression": factor.expression, "task_run_id": factor.task_run_id, "loop_id": factor.loop_id,
        "payload": factor.payload(),
    }


def task_row(item: TaskItem, summary: dict[str, Any] | None) -> Row:
    return {"task_id": item.task_id, "updated_at_utc": item.updated_at_utc, "has_sota": item.has_sota,
            "payload": {"item": item.payload(), "summary": summary}}


def task_loop_row(task_id: str, loop: TaskLoop) -> Row:
    payload = loop.payload()
    for key in ("annualized_return", "max_drawdown", "information_ratio", "valid_score"):
        payload.pop(key, None)  # KPIs live in research_loop_kpis
    return {"task_id": task_id, "loop_id": loop.loop_id, "exp_type": loop.exp_type, "is_sota": loop.is_sota,
            "decision": loop.feedback, "payload": payload}


def factor_code_row(task_id: str, factor: AlignedFactor) -> Row:
    return {
        "task_id": task_id, "factor_name": factor.factor_name,
        "origin": f"extractor_v2_aligned:{factor.source_from or '?'}",
        "code_sha256": hashlib.sha256(factor.source_code.encode("utf-8")).hexdigest(),
        "source_code": factor.source_code, "payload": factor.payload(),
    }


def task_file_row(task_id: str, key: str, origin: str | None, sha256: str, size: int) -> Row:
    return {"task_id": task_id, "key": key, "origin": origin, "sha256": sha256, "size_bytes": size, "payload": {}}

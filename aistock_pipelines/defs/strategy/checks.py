"""Reconciliation check: a spec's backtest KPIs vs what research recorded for the loop (contract §4.7, §14.8).

Recorded KPIs come from the spec's ``qlib_res.csv``, from the catalog's ``research_loop_kpis`` rows of its
loop, or — the default spec — from the synced loop tagged as the replay reference (`demo_export.REPLAY_TAG`),
whose KPIs research computed with Qlib's own backtest. For a tagged loop the inputs are compared first
(window, universe, signal, strategy, backtest block): figures of different runs are not comparable, so a
mismatch fails the check whatever the numbers say. With no reference at all the check does not pass: it
reports, as a warning, that nothing was reconciled and why.
"""


import json
from typing import Any

import dagster as dg

from aistock_core.errors import StrategyError
from aistock_core.strategy.reconcile import input_mismatches, kpis_from_db, read_qlib_res, reconcile, reference_loop
from aistock_pipelines.defs.strategy.assets import (
    DEFAULT_SPEC,
    BacktestSpec,
    backtest_topk_dropout,
    build_backtest_asset,
)
from aistock_pipelines.resources import DatabaseResource, StoreResource

#: The research asset that syncs loops and their KPIs: a tagged reference is looked up after it has run.
LOOP_CATALOG = dg.AssetKey(["research", "loop_catalog"])


def _no_reference(text: str) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN,
                               description=f"skipped, nothing reconciled: {text}",
                               metadata={"recorded_from": dg.MetadataValue.text("none")})


def build_reconcile_check(spec: BacktestSpec, asset: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=asset, name="reconcile_with_research",
                    additional_deps=[LOOP_CATALOG] if spec.recorded_tag and not
                    (spec.recorded_qlib_res or spec.recorded_loop) else None,
                    description="Replayed Qlib-mode KPIs vs the research loop's recorded qlib_res metrics.")
    def _check(store: StoreResource, database: DatabaseResource) -> dg.AssetCheckResult:
        risk_path = spec.output_dir(store) / "risk.json"
        if not risk_path.is_file():
            raise StrategyError(f"{risk_path} is missing: materialise backtest_{spec.name} first")
        replay = json.loads(risk_path.read_text())
        mismatches: list[str] = []
        extra: dict[str, Any] = {}
        if spec.recorded_qlib_res:
            recorded, source = read_qlib_res(spec.recorded_qlib_res), spec.recorded_qlib_res
        elif spec.recorded_loop:
            run_id, loop_id = spec.recorded_loop
            with database.get_db().session() as session:
                recorded = kpis_from_db(session, run_id, loop_id)
            source = f"research_loop_kpis ({run_id}, {loop_id})"
        elif spec.recorded_tag:
            with database.get_db().session() as session:
                found = reference_loop(session, spec.recorded_tag)
                if found is None:
                    return _no_reference(
                        f"no synced research loop is tagged {spec.recorded_tag!r} (the demo export designates one "
                        f"only when Qlib is installed: install the 'qlib' extra, regenerate the export, resync)")
                run_id, loop_id, reference = found
                recorded = kpis_from_db(session, run_id, loop_id)
            source = f"research_loop_kpis ({run_id}, {loop_id}), tagged {spec.recorded_tag!r}"
            mismatches = input_mismatches(reference, {**replay, "backtest": spec.backtest})
            extra = {"reference_engine": dg.MetadataValue.text(str(reference.get("engine"))),
                     "window": dg.MetadataValue.text(f"{reference.get('start_time')}..{reference.get('end_time')}")}
        else:
            return _no_reference("no recorded KPIs configured for this spec (set recorded_qlib_res, "
                                 "recorded_loop or recorded_tag)")
        result = reconcile(replay["metrics"], recorded, spec.tolerances)
        failures = list(result.failures().index)
        if mismatches:
            description = "inputs differ from the recorded run: " + "; ".join(mismatches)
        elif failures:
            description = f"{len(failures)} metric(s) outside tolerance: {', '.join(failures)}"
        else:
            description = f"{len(result.table)} metrics within tolerance of {source}"
        return dg.AssetCheckResult(
            passed=result.passed and not mismatches,
            description=description,
            metadata={
                "deviations": dg.MetadataValue.md(result.to_markdown()),
                "compared": dg.MetadataValue.int(len(result.table)),
                "failed": dg.MetadataValue.int(len(failures)),
                "max_rel_diff": dg.MetadataValue.float(float(result.table["rel_diff"].max())),
                "recorded_from": dg.MetadataValue.text(source),
                **extra,
            },
        )

    return _check


def build_backtest(spec: BacktestSpec) -> tuple[dg.AssetsDefinition, dg.AssetChecksDefinition]:
    """The backtest asset of ``spec`` and its reconciliation check."""
    asset = build_backtest_asset(spec)
    return asset, build_reconcile_check(spec, asset)


reconcile_topk_dropout = build_reconcile_check(DEFAULT_SPEC, backtest_topk_dropout)

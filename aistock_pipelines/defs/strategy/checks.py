"""Reconciliation check: a spec's backtest KPIs vs what RD-Agent recorded for the loop (contract §4.7, §14.8).

Recorded KPIs come from the spec's ``qlib_res.csv`` or from the catalog's ``research_loop_kpis`` rows for its
loop. With neither configured there is nothing to compare: the check passes with a warning saying so, rather
than failing a graph that has not been linked to a research loop yet.
"""


import json

import dagster as dg

from aistock_core.errors import StrategyError
from aistock_core.strategy.reconcile import kpis_from_db, read_qlib_res, reconcile
from aistock_pipelines.defs.strategy.assets import (
    DEFAULT_SPEC,
    BacktestSpec,
    backtest_topk_dropout,
    build_backtest_asset,
)
from aistock_pipelines.resources import DatabaseResource, StoreResource


def build_reconcile_check(spec: BacktestSpec, asset: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=asset, name="reconcile_with_research",
                    description="Replayed Qlib-mode KPIs vs the research loop's recorded qlib_res metrics.")
    def _check(store: StoreResource, database: DatabaseResource) -> dg.AssetCheckResult:
        risk_path = spec.output_dir(store) / "risk.json"
        if not risk_path.is_file():
            raise StrategyError(f"{risk_path} is missing: materialise backtest_{spec.name} first")
        ours = json.loads(risk_path.read_text())["metrics"]
        if spec.recorded_qlib_res:
            recorded, source = read_qlib_res(spec.recorded_qlib_res), spec.recorded_qlib_res
        elif spec.recorded_loop:
            run_id, loop_id = spec.recorded_loop
            with database.get_db().session() as session:
                recorded = kpis_from_db(session, run_id, loop_id)
            source = f"research_loop_kpis ({run_id}, {loop_id})"
        else:
            return dg.AssetCheckResult(
                passed=True, severity=dg.AssetCheckSeverity.WARN,
                description="no recorded KPIs configured for this spec (set recorded_qlib_res or recorded_loop)",
            )
        result = reconcile(ours, recorded, spec.tolerances)
        worst = result.table["rel_diff"].max()
        return dg.AssetCheckResult(
            passed=result.passed,
            metadata={
                "deviations": dg.MetadataValue.md(result.to_markdown()),
                "compared": dg.MetadataValue.int(len(result.table)),
                "failed": dg.MetadataValue.int(int((~result.table["ok"]).sum())),
                "max_rel_diff": dg.MetadataValue.float(float(worst)),
                "recorded_from": dg.MetadataValue.text(source),
            },
        )

    return _check


def build_backtest(spec: BacktestSpec) -> tuple[dg.AssetsDefinition, dg.AssetChecksDefinition]:
    """The backtest asset of ``spec`` and its reconciliation check."""
    asset = build_backtest_asset(spec)
    return asset, build_reconcile_check(spec, asset)


reconcile_topk_dropout = build_reconcile_check(DEFAULT_SPEC, backtest_topk_dropout)

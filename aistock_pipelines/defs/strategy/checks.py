"""Reconciliation check: a spec's backtest KPIs vs what research recorded for the loop (the RD-Agent contract's
``qlib_res.csv`` metrics; see ``contracts/rdagent.md`` in the shared folder).

Which recorded KPIs (a ``qlib_res.csv``, a loop's ``research_loop_kpis`` rows, or the synced loop tagged as
replay reference) and whether the inputs match is `aistock_core.strategy.spec.recorded_kpis`; this check reads
the replay's risk.json, asks for them, compares and reports. Inputs that differ from a tagged reference fail
the check whatever the numbers say (figures of different runs are not comparable). With no reference at all
the check does not pass: it reports, as a warning, that nothing was reconciled and why.
"""


import json

import dagster as dg

from aistock_core.errors import StrategyError
from aistock_core.strategy.reconcile import reconcile
from aistock_core.strategy.spec import BacktestSpec, NoReference, recorded_kpis
from aistock_pipelines.defs.strategy.assets import build_backtest_asset
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
        risk_path = spec.output_dir(store.resolved_root()) / "risk.json"
        if not risk_path.is_file():
            raise StrategyError(f"{risk_path} is missing: materialise backtest_{spec.name} first")
        replay = json.loads(risk_path.read_text())
        try:
            recorded = recorded_kpis(spec, replay, database.get_db().session)
        except NoReference as exc:
            return _no_reference(str(exc))
        mismatches, source = recorded.mismatches, recorded.source
        extra = {} if recorded.reference is None else {
            "reference_engine": dg.MetadataValue.text(str(recorded.reference.get("engine"))),
            "window": dg.MetadataValue.text(
                f"{recorded.reference.get('start_time')}..{recorded.reference.get('end_time')}"),
        }
        result = reconcile(replay["metrics"], recorded.kpis, spec.tolerances)
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

"""Blocking check of the settlement: each instance's settled value recomputed from ``preview_trade`` and the
day's closes alone must agree to the cent (`aistock_core.preview.check`)."""


import dagster as dg

from aistock_core.preview.check import CENT, reconcile_values
from aistock_pipelines.defs.preview.assets import preview_settlement
from aistock_pipelines.partitions import trade_date
from aistock_pipelines.resources import DatabaseResource, DataServiceResource


@dg.asset_check(asset=preview_settlement, blocking=True,
                description="Settled values = initial capital + trades + closes, to the cent, for every instance.")
def preview_values_reconcile(context: dg.AssetCheckExecutionContext, data: DataServiceResource,
                             database: DatabaseResource) -> dg.AssetCheckResult:
    partition = context.run.tags.get("dagster/partition") if context.run else None
    day = trade_date(partition)
    table = reconcile_values(database.get_db(), data.get_service(), day)
    bad = table[~table["ok"]]
    return dg.AssetCheckResult(
        passed=bool(len(bad) == 0),
        description=f"{len(table) - len(bad)} of {len(table)} instance(s) agree within {CENT} yuan",
        metadata={
            "instances": dg.MetadataValue.int(len(table)),
            "mismatches": dg.MetadataValue.int(len(bad)),
            "max_abs_diff": dg.MetadataValue.float(float(table["diff"].abs().max()) if len(table) else 0.0),
            "worst": dg.MetadataValue.md(bad.head(10).to_markdown() if len(bad) else "none"),
        },
    )

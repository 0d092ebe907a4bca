"""Factor assets: each trading day's migrated factor values in the Parquet store (float32, one column per factor).

One asset per configured `aistock_core.factors.sets.FactorSet` (Alpha158, or RD-Agent code factors
re-expressed in our engine; which sets is configuration, `aistock_core.specs`), each with the blocking
alignment check against its reference (`checks.py`). Both the asset and its check resolve the same window
(the day plus the expressions' look-back) via `aistock_core.factors.verify.check_window`, so what is
stored is exactly what is judged.
"""


import dagster as dg

from aistock_core.factors.sets import FactorSet
from aistock_core.factors.verify import check_window, migrated_frame
from aistock_pipelines.partitions import trade_date, trading_days
from aistock_pipelines.presentation import table_metadata
from aistock_pipelines.resources import DataServiceResource, StoreResource

GROUP = "factors"
#: The research a factor set reads besides its declared inputs: every set runs on the day's research state, and
#: code factors are re-expressions of RD-Agent's SOTA factor code.
RESEARCH_STATE = dg.AssetKey(["research", "research_state"])
FACTOR_CODE = dg.AssetKey(["research", "sota_factor_code"])


def research_deps(spec: FactorSet) -> list[dg.AssetKey]:
    """The research assets ``spec`` reads (lineage: research → factors)."""
    return [RESEARCH_STATE, *([FACTOR_CODE] if spec.reference == "code" else [])]


def compute_day(spec: FactorSet, data: DataServiceResource, partition_key: str):
    """The day's migrated values of ``spec`` (rows: listed instruments of the universe on that day)."""
    day = trade_date(partition_key)
    service = data.get_service()
    window = check_window(service, spec.expressions, start=day, end=day, lookback=spec.lookback)
    universe = spec.universe_for(data.settings().market)
    return day, migrated_frame(service, universe, spec.expressions, window, adjust=spec.adjust)


def build_factor_asset(spec: FactorSet) -> dg.AssetsDefinition:
    """The trading-day-partitioned asset storing ``spec``'s values under the store dataset ``spec.name``."""

    @dg.asset(name=spec.name, partitions_def=trading_days, group_name=GROUP, kinds={"parquet"},
              deps=[*spec.deps, *research_deps(spec)],
              description=f"Migrated factors ({len(spec.expressions)}), verified against {spec.reference}.")
    def _factor_asset(context: dg.AssetExecutionContext, data: DataServiceResource,
                      store: StoreResource) -> dg.MaterializeResult:
        day, frame = compute_day(spec, data, context.partition_key)
        path, sha256, rows = store.get_store().write_partition(spec.name, day, frame)
        nan_share = frame.isna().mean().sort_values(ascending=False)
        return dg.MaterializeResult(
            metadata={
                "rows": dg.MetadataValue.int(rows),
                "factors": dg.MetadataValue.int(frame.shape[1]),
                "trade_date": dg.MetadataValue.text(f"{day:%Y-%m-%d}"),
                "path": dg.MetadataValue.path(str(path)),
                "sha256": dg.MetadataValue.text(sha256),
                "most_nan": dg.MetadataValue.md(nan_share.head(5).rename("nan_share").to_frame()
                                                .to_markdown(floatfmt=".4f")),
                **table_metadata(frame),
            },
            data_version=dg.DataVersion(sha256),
        )

    return _factor_asset

"""Factor assets: each trading day's migrated factor values in the Parquet store (float32, one column per factor).

A `FactorSet` describes one group of migrated factors (Alpha158, or RD-Agent code factors re-expressed in our
engine) and the reference its blocking alignment check compares against (`checks.py`). Both the asset and its
check resolve the same window (the day plus the expressions' look-back) via
`aistock_core.factors.alignment.check_window`, so what is stored is exactly what is judged.
"""


from collections.abc import Mapping
from dataclasses import dataclass, field

import dagster as dg

from aistock_core.factors.alignment import check_window, migrated_frame
from aistock_pipelines.partitions import trade_date, trading_days
from aistock_pipelines.resources import DataServiceResource, StoreResource

GROUP = "factors"


@dataclass(frozen=True)
class FactorSet:
    """A named set of migrated factors and how to verify them.

    ``reference``: ``qlib`` (Qlib itself; skipped with a note when pyqlib is missing), ``code`` (the sandboxed
    RD-Agent code in ``code_sources``; values are then computed on the qfq view the code sees) or ``parquet``
    (a bundle file). ``universe``: a market or codes; None = the configured market. ``source`` is the
    registry's source tag (contract §3.1: ``qlib_alpha158``, ``rdagent_generated``).
    """

    name: str
    expressions: Mapping[str, str]
    reference: str = "qlib"
    source: str = "qlib_alpha158"
    code_sources: Mapping[str, str] = field(default_factory=dict)
    parquet: str | None = None
    universe: str | tuple[str, ...] | None = None
    lookback: int | None = None
    #: Upstream asset keys shown as lineage (the values are read through the data service, which serves the
    #: same bars the market box stores).
    deps: tuple[str, ...] = ()

    @property
    def adjust(self) -> str:
        return "qfq" if self.reference == "code" else "qlib"

    def universe_for(self, data: DataServiceResource) -> str | list[str]:
        if self.universe is None:
            return data.settings().market
        return self.universe if isinstance(self.universe, str) else list(self.universe)


def compute_day(spec: FactorSet, data: DataServiceResource, partition_key: str):
    """The day's migrated values of ``spec`` (rows: listed instruments of the universe on that day)."""
    day = trade_date(partition_key)
    service = data.get_service()
    window = check_window(service, spec.expressions, start=day, end=day, lookback=spec.lookback)
    return day, migrated_frame(service, spec.universe_for(data), spec.expressions, window, adjust=spec.adjust)


def build_factor_asset(spec: FactorSet) -> dg.AssetsDefinition:
    """The trading-day-partitioned asset storing ``spec``'s values under the store dataset ``spec.name``."""

    @dg.asset(name=spec.name, partitions_def=trading_days, group_name=GROUP, kinds={"parquet"}, deps=list(spec.deps),
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
                "most_nan": dg.MetadataValue.md(nan_share.head(5).rename("nan_share").to_frame().to_markdown()),
            },
            data_version=dg.DataVersion(sha256),
        )

    return _factor_asset


def code_factor_set(name: str, code_dir: str, expressions: Mapping[str, str], **options) -> FactorSet:
    """A set of RD-Agent code factors re-expressed in our engine, checked against their sandboxed code.

    ``code_dir`` holds the original files (see `aistock_core.factors.sandbox.load_code_dir`); every name in
    ``expressions`` must have one, else a `FactorError` at definition time, not at 16:30 on a trading day.
    """
    from aistock_core.factors.sandbox import load_code_dir

    sources = load_code_dir(code_dir, list(expressions))
    return FactorSet(name=name, expressions=dict(expressions), reference="code", source="rdagent_generated",
                     code_sources=sources, **options)


def alpha158_set() -> FactorSet:
    """Alpha158 (Qlib's expressions), checked against Qlib itself."""
    from aistock_core.factors.alpha158 import alpha158_expressions

    return FactorSet(name="alpha158_factors", expressions=alpha158_expressions(), reference="qlib",
                     source="qlib_alpha158", deps=("market_bars",))


def demo_rdagent_set(name: str = "rdagent_factors") -> FactorSet:
    """The demo export's RD-Agent factors, migrated to our engine and checked against their own code.

    Code and expressions are the demo export's own: `demo_factors.DEMO_FACTORS` is what `write_demo_export`
    writes as each workspace's ``<name>_factor.py`` and as the catalog's ``expression`` (a test holds the two
    byte for byte). They are taken from there rather than read from the export directory because the export
    is generated on first research sync, after these definitions load. Cost of the check: one sandboxed run
    per factor per partition, on a daily_pv.h5 of the day plus the look-back (20 sessions).
    """
    from aistock_core.research.demo_factors import DEMO_FACTORS

    return FactorSet(name=name, expressions={f.name: f.expression for f in DEMO_FACTORS}, reference="code",
                     source="rdagent_generated", code_sources={f.name: f.source for f in DEMO_FACTORS},
                     deps=("market_bars",))


ALPHA158 = alpha158_set()
alpha158_factors = build_factor_asset(ALPHA158)
RDAGENT = demo_rdagent_set()
rdagent_factors = build_factor_asset(RDAGENT)

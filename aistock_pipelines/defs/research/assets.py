"""Research assets: RD-Agent's catalogs, alpha meta, bundles and SOTA factor code, synced in one transaction.

One sync run is one transaction (a half-synced catalog set would join loops to strategies that are not
there), so the assets are the outputs of a single `multi_asset`; each reports its own tables' counts, a
sample of what changed, and the loop catalog a markdown table of the top loops by information ratio.
"""

from collections.abc import Iterator

import dagster as dg

from aistock_core.config import get_settings
from aistock_core.research.browse import top_loops
from aistock_core.research.defaults import blob_root
from aistock_core.research.source import ResearchSource, open_source
from aistock_core.research.state import current_research_state
from aistock_core.research.sync import SyncReport, TableCounts, sync
from aistock_core.specs import research_source
from aistock_pipelines.partitions import trade_date, trading_days
from aistock_pipelines.resources import DatabaseResource

GROUP = "research"
PREFIX = "research"
#: asset name → the tables whose counts it reports.
ASSET_TABLES: dict[str, tuple[str, ...]] = {
    "factor_catalog": ("factors",),
    "strategy_catalog": ("strategies",),
    "loop_catalog": ("loops", "loop_kpis", "artifacts"),
    "model_catalog": ("models",),
    "alpha_meta": ("alpha_factors",),
    "bundles": ("bundles", "bundle_files", "bundle_factors"),
    "sota_factor_code": ("tasks", "task_loops", "factor_code", "task_files"),
}
DESCRIPTIONS = {
    "factor_catalog": "RD-Agent factor catalog (alpha metas + generated factors), keyed (name, source, expr md5).",
    "strategy_catalog": "Qlib strategy/backtest blocks per strategy_id.",
    "loop_catalog": "Solidified loops with their KPIs (without and with cost) and registry artifacts.",
    "model_catalog": "Model configs per model_id (rebuild from model_config, not model_type).",
    "alpha_meta": "Alpha158 (and Alpha360 when exported) factor expressions.",
    "bundles": "Production bundles: files content-addressed under AISTOCK_HOME/research/blobs.",
    "sota_factor_code": "SOTA factor.py sources and model files per RD-Agent task, with their origin.",
}


class RDAgentSourceResource(dg.ConfigurableResource):
    """Where research comes from: a results API URL or an export directory (default: Settings / demo export)."""

    source: str | None = None
    timeout: float = 30.0

    def spec(self) -> str:
        return self.source or research_source(get_settings())

    def open(self) -> ResearchSource:
        return open_source(self.spec(), timeout=self.timeout)


class ResearchSyncConfig(dg.Config):
    incremental: bool = False
    confirm: bool = False


def _counts_md(counts: dict[str, TableCounts], tables: tuple[str, ...]) -> str:
    lines = ["| table | new | changed | unchanged | removed |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {t} | {c.new} | {c.changed} | {c.unchanged} | {c.removed} |"
              for t in tables if (c := counts.get(t)) is not None]
    return "\n".join(lines)


def _changed_md(counts: dict[str, TableCounts], tables: tuple[str, ...]) -> str:
    items = [f"- {kind} {t}: `{key}`" for t in tables if (c := counts.get(t)) is not None
             for kind in ("new", "changed", "removed") for key in c.sample[kind]]
    return "\n".join(items) if items else "nothing changed"


def asset_metadata(report: SyncReport, name: str) -> dict[str, dg.MetadataValue | int | str]:
    tables = ASSET_TABLES[name]
    counts = [report.counts[t] for t in tables if t in report.counts]
    return {
        "new": sum(c.new for c in counts), "changed": sum(c.changed for c in counts),
        "unchanged": sum(c.unchanged for c in counts), "removed": sum(c.removed for c in counts),
        "counts": dg.MetadataValue.md(_counts_md(report.counts, tables)),
        "what_changed": dg.MetadataValue.md(_changed_md(report.counts, tables)),
        "sync_run": report.run_id, "mode": report.mode, "status": report.status,
        "source": report.source, "cursor": report.cursor_after or "",
    }


@dg.multi_asset(
    specs=[dg.AssetSpec([PREFIX, name], group_name=GROUP, description=DESCRIPTIONS[name], kinds={"sql"})
           for name in ASSET_TABLES],
    name="research_catalog_sync",
)
def research_catalog_sync(
    context: dg.AssetExecutionContext, config: ResearchSyncConfig, database: DatabaseResource,
    rdagent: RDAgentSourceResource,
) -> Iterator[dg.MaterializeResult]:
    """Sync everything from RD-Agent (full, or incremental from the last cursor) in one transaction."""
    db = database.get_db()
    with rdagent.open() as source:
        report = sync(db, source, blob_root(get_settings()), incremental=config.incremental, confirm=config.confirm)
    for error in report.errors:
        context.log.warning(error)
    for name in ASSET_TABLES:
        metadata = asset_metadata(report, name)
        if name == "loop_catalog":
            top = top_loops(db, 5)
            metadata["top_loops_by_ir"] = dg.MetadataValue.md(top.to_markdown(index=False, floatfmt=".4f")
                                                              if not top.empty else "no loops with KPIs")
        yield dg.MaterializeResult(asset_key=[PREFIX, name], metadata=metadata)


#: The catalog assets, as keys (the research group also holds the trading-day ``research_state``).
CATALOG_KEYS = [dg.AssetKey([PREFIX, name]) for name in ASSET_TABLES]


@dg.asset(key=[PREFIX, "research_state"], partitions_def=trading_days, group_name=GROUP, kinds={"sql"},
          deps=CATALOG_KEYS,
          description="The research a trading day runs on: the last successful catalog sync and the content hashes "
                      "of the live bundles, model configs and SOTA factor code (one fingerprint). The day's factors "
                      "read it, so the day's scores and orders trace back to these research results.")
def research_state(context: dg.AssetExecutionContext, database: DatabaseResource) -> dg.MaterializeResult:
    day = trade_date(context.partition_key)
    with database.get_db().session() as session:
        state = current_research_state(session)
    return dg.MaterializeResult(
        metadata={
            "trade_date": dg.MetadataValue.text(f"{day:%Y-%m-%d}"),
            "fingerprint": dg.MetadataValue.text(state.fingerprint),
            "sync_run": dg.MetadataValue.int(state.sync_run or 0),
            "synced_at": dg.MetadataValue.text(state.synced_at or "never synced"),
            "cursor": dg.MetadataValue.text(state.cursor or ""),
            "source": dg.MetadataValue.text(state.source or ""),
            "bundles": dg.MetadataValue.int(len(state.bundles)),
            "models": dg.MetadataValue.int(len(state.models)),
            "factor_code": dg.MetadataValue.int(len(state.factor_code)),
            "entries": dg.MetadataValue.json({"bundles": state.bundles, "models": state.models,
                                              "factor_code": state.factor_code}),
        },
        data_version=dg.DataVersion(state.fingerprint),
    )


research_sync_job = dg.define_asset_job(
    "research_sync_job", selection=CATALOG_KEYS,
    description="Sync RD-Agent's catalogs, bundles and SOTA factor code into the app DB (one transaction).")

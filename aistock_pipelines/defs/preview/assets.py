"""Preview assets: the declared ``preview_instances``, the trading-day ``preview_trades`` and ``preview_settlement``,
the ``preview_report`` page, and the minute refresh job.

``preview_instances`` keeps the instances the specs declare (`aistock_core.specs.InstanceDecl`) in existence.
``preview_trades`` makes each running instance's virtual trades of the day at the decision time, its targets from
its own source (`aistock_core.strategy.sources`: the catalog loop/strategy and the model's stored scores, shared
between instances of one source). The settlement settles every running instance at the day's raw closes
(`aistock_core.preview.settle`) and shows the day's figures and the NAV chart of the running instances against the
SSE Composite in its metadata. The refresh is an op job, not an asset: a mark every minute is operational state,
not a data product worth an asset event per minute; it runs in process (DESIGN §5: half the run overhead).
"""


import base64
import time

import dagster as dg
import pandas as pd

from aistock_core.preview.book import running_ids
from aistock_core.preview.engine import DEFAULT_SLOT, SignalPreviewEngine
from aistock_core.preview.instances import ensure_instances
from aistock_core.preview.nav import kpis, nav_frame
from aistock_core.preview.refresh import refresh
from aistock_core.preview.report import report_png, write_report
from aistock_core.preview.settle import settle
from aistock_core.specs import load_specs
from aistock_core.strategy.sources import target_engine
from aistock_pipelines.defs.declared import declared_result
from aistock_pipelines.partitions import trade_date, trading_days
from aistock_pipelines.resources import DatabaseResource, DataServiceResource, StoreResource

GROUP = "preview"
#: Days of NAV history shown in the settlement's chart.
CHART_DAYS = 120


@dg.asset(group_name=GROUP, kinds={"sql"},
          deps=[dg.AssetKey(["research", name]) for name in ("loop_catalog", "strategy_catalog")],
          description="The preview instances the specs declare, created once by name (existing ones untouched).")
def preview_instances(data: DataServiceResource, database: DatabaseResource) -> dg.MaterializeResult:
    decls = load_specs(data.settings()).previews
    return declared_result(decls, ensure_instances(database.get_db(), decls))


@dg.asset(partitions_def=trading_days, group_name=GROUP, kinds={"sql"},
          deps=["preview_instances", "model_scores", "target_positions"],
          description=f"Each running preview instance's virtual trades of the session at {DEFAULT_SLOT}, its targets "
                      "from its own source (the previous session's scores); a traded slot is never traded again.")
def preview_trades(context: dg.AssetExecutionContext, data: DataServiceResource, database: DatabaseResource,
                   store: StoreResource) -> dg.MaterializeResult:
    day = trade_date(context.partition_key)
    db, service = database.get_db(), data.get_service()
    started = time.perf_counter()
    targets = target_engine(data.settings(), service, db, store.get_store())
    summary = SignalPreviewEngine(db, service, targets).run(day, DEFAULT_SLOT)
    counts = pd.DataFrame(summary.instances.values(), columns=["filled", "unfilled"])
    failed = {i: why for i, why in summary.skipped.items() if why.startswith("no targets")}
    for preview_id, why in failed.items():
        context.log.warning(f"preview {preview_id} did not trade on {day:%Y-%m-%d}: {why}")
    return dg.MaterializeResult(metadata={
        "instances": dg.MetadataValue.int(len(summary.instances)),
        "already_traded": dg.MetadataValue.int(len(summary.skipped) - len(failed)),
        "no_targets": dg.MetadataValue.json({str(i): why for i, why in failed.items()}),
        "filled": dg.MetadataValue.int(int(counts["filled"].sum())),
        "unfilled": dg.MetadataValue.int(int(counts["unfilled"].sum())),
        "sources": dg.MetadataValue.int(targets.sources),
        "seconds": dg.MetadataValue.float(round(time.perf_counter() - started, 3)),
    })


@dg.asset(partitions_def=trading_days, group_name=GROUP, kinds={"sql"},
          deps=["preview_trades", "market_bars", "index_bars"],
          description="End-of-day settlement of every running preview instance at raw closes (NAV, P&L, drawdown).")
def preview_settlement(context: dg.AssetExecutionContext, data: DataServiceResource,
                       database: DatabaseResource) -> dg.MaterializeResult:
    day = trade_date(context.partition_key)
    db, service = database.get_db(), data.get_service()
    result = settle(db, service, day)
    metadata = {
        "instances": dg.MetadataValue.int(result.instances),
        "positions": dg.MetadataValue.int(result.positions),
        "stale_positions": dg.MetadataValue.int(result.stale),
        "seconds": dg.MetadataValue.float(round(result.seconds, 3)),
    }
    with db.session() as session:
        ids = running_ids(session)
    if ids:
        nav = nav_frame(db, service, ids, start=service.calendar.offset(day, -CHART_DAYS + 1), end=day)
        png = report_png(nav, f"preview NAV to {day:%Y-%m-%d}")
        metadata["nav_plot"] = dg.MetadataValue.md(f"![nav](data:image/png;base64,{base64.b64encode(png).decode()})")
        metadata["nav_today"] = dg.MetadataValue.md(nav.iloc[[-1]].T.rename(columns=lambda _: "nav")
                                                    .to_markdown(floatfmt=".4f"))
    return dg.MaterializeResult(metadata=metadata)


@dg.asset(group_name=GROUP, kinds={"html", "plotly"}, deps=["preview_settlement"],
          description="The comparison page of every running preview instance against the SSE Composite: NAV curves, "
                      "KPIs (HTML + PNG under AISTOCK_HOME/reports).")
def preview_report(data: DataServiceResource, database: DatabaseResource) -> dg.MaterializeResult:
    db, service = database.get_db(), data.get_service()
    with db.session() as session:
        ids = running_ids(session)
    if not ids:
        return dg.MaterializeResult(metadata={"instances": dg.MetadataValue.int(0)})
    nav = nav_frame(db, service, ids)
    table = kpis(nav)
    table.insert(0, "nav", nav.ffill().iloc[-1])
    html, png = write_report(nav, table, data.settings().resolved_home / "reports" / "preview.html")
    return dg.MaterializeResult(metadata={
        "instances": dg.MetadataValue.int(len(ids)),
        "days": dg.MetadataValue.int(len(nav)),
        "last_day": dg.MetadataValue.text(f"{nav.index[-1]:%Y-%m-%d}"),
        "html": dg.MetadataValue.path(str(html)),
        "png": dg.MetadataValue.path(str(png)),
        "kpis": dg.MetadataValue.md(table.to_markdown(floatfmt=".4f")),
    })


@dg.op(config_schema={"at": str}, description="One refresh of every running preview instance at live prices.")
def preview_refresh_op(context: dg.OpExecutionContext, data: DataServiceResource,
                       database: DatabaseResource) -> None:
    result = refresh(database.get_db(), data.get_service(), pd.Timestamp(context.op_config["at"]))
    context.log.info(f"preview refresh: {result.as_dict()}")


@dg.job(executor_def=dg.in_process_executor, tags={"aistock/box": "preview"},
        description="One minute refresh of every running preview instance at live prices (in process).")
def preview_refresh_job() -> None:
    preview_refresh_op()

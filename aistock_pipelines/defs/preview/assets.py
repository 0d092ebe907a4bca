"""Preview assets: the trading-day ``preview_settlement`` and the minute refresh job.

The settlement settles every running instance at the day's raw closes (`aistock_core.preview.settle`) and shows
the day's figures and the NAV chart of the running instances against the SSE Composite in its metadata. The
refresh is an op job, not an asset: a mark every minute is operational state, not a data product worth an asset
event per minute; it runs in process (DESIGN §5: half the run overhead).
"""


import base64

import dagster as dg
import pandas as pd

from aistock_core.preview.book import running_ids
from aistock_core.preview.nav import nav_frame
from aistock_core.preview.refresh import refresh
from aistock_core.preview.report import report_png
from aistock_core.preview.settle import settle
from aistock_pipelines.partitions import trade_date, trading_days
from aistock_pipelines.resources import DatabaseResource, DataServiceResource

GROUP = "preview"
#: Days of NAV history shown in the settlement's chart.
CHART_DAYS = 120


@dg.asset(partitions_def=trading_days, group_name=GROUP, kinds={"sql"},
          deps=["target_positions", "market_bars", "index_bars"],
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


@dg.op(config_schema={"at": str}, description="One refresh of every running preview instance at live prices.")
def preview_refresh_op(context: dg.OpExecutionContext, data: DataServiceResource,
                       database: DatabaseResource) -> None:
    result = refresh(database.get_db(), data.get_service(), pd.Timestamp(context.op_config["at"]))
    context.log.info(f"preview refresh: {result.as_dict()}")


@dg.job(executor_def=dg.in_process_executor, tags={"aistock/box": "preview"},
        description="One minute refresh of every running preview instance at live prices (in process).")
def preview_refresh_job() -> None:
    preview_refresh_op()

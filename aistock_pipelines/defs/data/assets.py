"""Market data assets: the instrument table, and each trading day's stock and index bars in the Parquet store.

Asset bodies only wire resources to `aistock_core.data.bars` (frame building), the Parquet store (atomic write,
checksum) and `aistock_core.data.ledger` (DB upsert). Re-materialising a partition rewrites the same bytes and
upserts the same ledger row: a retry or a backfill over existing days is harmless.
"""


import dagster as dg
import pandas as pd

from aistock_core.data.bars import bars_summary, day_bars, index_day_bars, instrument_table
from aistock_core.data.ledger import record_partition, upsert_instruments
from aistock_pipelines.partitions import calendar_status, trade_date, trading_days
from aistock_pipelines.presentation import table_metadata
from aistock_pipelines.resources import DatabaseResource, DataServiceResource, StoreResource

GROUP = "data"
#: Rows shown in the UI's preview table (enough to eyeball units and NaN patterns, small enough to render).
PREVIEW_ROWS = 10


def _preview(frame: pd.DataFrame) -> dg.MetadataValue:
    shown = frame.head(PREVIEW_ROWS).reset_index()
    shown["datetime"] = shown["datetime"].dt.strftime("%Y-%m-%d")
    return dg.MetadataValue.md(shown.to_markdown(index=False, floatfmt=".4g"))


def _persist(
    dataset: str, frame: pd.DataFrame, day: pd.Timestamp, data: DataServiceResource, store: StoreResource,
    database: DatabaseResource,
) -> dg.MaterializeResult:
    """Write one day's frame to the store, record it in the ledger, and describe it for the UI."""
    path, sha256, rows = store.get_store().write_partition(dataset, day, frame)
    record_partition(database.get_db(), dataset=dataset, trade_date=day.date(), rows=rows, path=str(path),
                     sha256=sha256, source=data.get_service().provider.name)
    return dg.MaterializeResult(
        metadata={
            **{key: dg.MetadataValue.int(value) for key, value in bars_summary(frame).items()},
            "trade_date": dg.MetadataValue.text(f"{day:%Y-%m-%d}"),
            "calendar": dg.MetadataValue.text(calendar_status(day)),
            "sha256": dg.MetadataValue.text(sha256),
            "path": dg.MetadataValue.path(str(path)),
            "preview": _preview(frame),
            **table_metadata(frame),
        },
        data_version=dg.DataVersion(sha256),
    )


@dg.asset(group_name=GROUP, kinds={"sql"})
def instruments(data: DataServiceResource, database: DatabaseResource) -> dg.MaterializeResult:
    """Every stock and index the data source knows: code, board, list and delist dates (app DB ``instruments``)."""
    service = data.get_service()
    table = instrument_table(service)
    count = upsert_instruments(database.get_db(), table, source=service.provider.name)
    boards = table["board"].value_counts().sort_index()
    return dg.MaterializeResult(
        metadata={
            "instruments": dg.MetadataValue.int(count),
            "delisted": dg.MetadataValue.int(int(table["delist_date"].notna().sum())),
            "boards": dg.MetadataValue.md(boards.rename_axis("board").reset_index(name="count").to_markdown(
                index=False)),
            "source": dg.MetadataValue.text(service.provider.name),
            **table_metadata(table),
        }
    )


@dg.asset(partitions_def=trading_days, group_name=GROUP, kinds={"parquet"}, deps=[instruments])
def market_bars(
    context: dg.AssetExecutionContext, data: DataServiceResource, store: StoreResource, database: DatabaseResource
) -> dg.MaterializeResult:
    """The day's raw bars of every listed stock: OHLCV, amount, vwap, factor, change, limits, suspended, ST."""
    day = trade_date(context.partition_key)
    return _persist("market_bars", day_bars(data.get_service(), day), day, data, store, database)


@dg.asset(partitions_def=trading_days, group_name=GROUP, kinds={"parquet"}, deps=[instruments])
def index_bars(
    context: dg.AssetExecutionContext, data: DataServiceResource, store: StoreResource, database: DatabaseResource
) -> dg.MaterializeResult:
    """The day's bars of the benchmark (000300.SH) and the composite (000001.SH)."""
    day = trade_date(context.partition_key)
    return _persist("index_bars", index_day_bars(data.get_service(), day), day, data, store, database)

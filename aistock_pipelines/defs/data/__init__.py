"""Market data assets: the instrument table, daily stock bars and index bars into the Parquet store."""

import dagster as dg

from aistock_pipelines.defs.data import assets, checks
from aistock_pipelines.defs.data.schedules import market_eod_job, market_eod_schedule

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([assets]),
    asset_checks=dg.load_asset_checks_from_modules([checks]),
    jobs=[market_eod_job],
    schedules=[market_eod_schedule],
)

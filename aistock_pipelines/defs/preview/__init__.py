"""Preview box: the minute refresh (sensor + in-process job) and the trading-day settlement with its check."""

import dagster as dg

from aistock_pipelines.defs.preview.assets import preview_refresh_job, preview_settlement
from aistock_pipelines.defs.preview.checks import preview_values_reconcile
from aistock_pipelines.defs.preview.sensors import preview_refresh_sensor

defs = dg.Definitions(
    assets=[preview_settlement],
    asset_checks=[preview_values_reconcile],
    jobs=[preview_refresh_job],
    sensors=[preview_refresh_sensor],
)

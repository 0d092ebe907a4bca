"""Preview box: declared instances, the day's virtual trades, the trading-day settlement with its check, the
comparison page, and the minute refresh (sensor + in-process job)."""

import dagster as dg

from aistock_pipelines.defs.preview.assets import (
    preview_instances,
    preview_refresh_job,
    preview_report,
    preview_settlement,
    preview_trades,
)
from aistock_pipelines.defs.preview.checks import preview_values_reconcile
from aistock_pipelines.defs.preview.sensors import preview_refresh_sensor

defs = dg.Definitions(
    assets=[preview_instances, preview_trades, preview_settlement, preview_report],
    asset_checks=[preview_values_reconcile],
    jobs=[preview_refresh_job],
    sensors=[preview_refresh_sensor],
)

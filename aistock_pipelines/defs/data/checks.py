"""Checks on the market assets. ``calendar_horizon`` is the UI side of "the calendar must not run out"."""


import dagster as dg
import pandas as pd

from aistock_core.calendar import TradingCalendar, exchange_today
from aistock_pipelines.defs.data.assets import market_bars
from aistock_pipelines.partitions import partition_calendar


def horizon_check_result(calendar: TradingCalendar, today: pd.Timestamp) -> dg.AssetCheckResult:
    """WARN (not an error: today's data is fine) when fewer than 30 days of calendar future remain."""
    warning = calendar.horizon_warning(today)
    return dg.AssetCheckResult(
        passed=warning is None,
        severity=dg.AssetCheckSeverity.WARN,
        description=warning or f"calendar {calendar.name} known until {calendar.last:%Y-%m-%d}",
        metadata={
            "last_session": dg.MetadataValue.text(f"{calendar.last:%Y-%m-%d}"),
            "days_left": dg.MetadataValue.int(int((calendar.last - today.normalize()).days)),
            "sessions_left": dg.MetadataValue.int(calendar.sessions_left(today)),
        },
    )


@dg.asset_check(asset=market_bars, description="Warn when the trading calendar has < 30 days of future left.")
def calendar_horizon() -> dg.AssetCheckResult:
    return horizon_check_result(partition_calendar(), exchange_today())

"""Every table of the app DB, one module per domain; importing this package registers them all."""

from aistock_core.db.models import preview, research  # noqa: F401  (registers the preview and research tables)
from aistock_core.db.models.alerts import AlertDelivery, AlertRateWindow, AlertState
from aistock_core.db.models.execution import TradeInstance  # noqa: F401  (registers the execution tables)
from aistock_core.db.models.factors import FactorAlignment, FactorRecord
from aistock_core.db.models.feedback import FeedbackFile  # noqa: F401  (registers the feedback tables)
from aistock_core.db.models.market import BarPartition, Instrument
from aistock_core.db.models.signals import PerformanceReportRow  # noqa: F401  (registers the signals tables)

__all__ = [
    "AlertDelivery", "AlertRateWindow", "AlertState", "BarPartition", "FactorAlignment", "FactorRecord", "Instrument",
]

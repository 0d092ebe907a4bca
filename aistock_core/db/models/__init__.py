"""Every table of the app DB, one module per domain; importing this package registers them all."""

from aistock_core.db.models import research  # noqa: F401  (research catalog tables)
from aistock_core.db.models.alerts import AlertDelivery, AlertRateWindow, AlertState
from aistock_core.db.models.factors import FactorAlignment, FactorRecord
from aistock_core.db.models.market import BarPartition, Instrument

__all__ = [
    "AlertDelivery", "AlertRateWindow", "AlertState", "BarPartition", "FactorAlignment", "FactorRecord", "Instrument",
]

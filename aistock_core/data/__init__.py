"""Market data: providers (Qlib bins, daily_pv.h5, CSV/Parquet, synthetic, xtquant) behind one `DataService`."""

from aistock_core.data.panel import Panel
from aistock_core.data.provider import BarProvider, QuoteSource
from aistock_core.data.service import DataService

__all__ = ["BarProvider", "DataService", "Panel", "QuoteSource"]

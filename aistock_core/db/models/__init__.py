"""Every table of the app DB, one module per domain; importing this package registers them all."""

from aistock_core.db.models.market import BarPartition, Instrument

__all__ = ["BarPartition", "Instrument"]

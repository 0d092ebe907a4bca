"""Build the configured market-data provider and `DataService` from `Settings` (the only place that chooses)."""

from __future__ import annotations

from aistock_core.config import Settings
from aistock_core.data.provider import BarProvider, QuoteSource
from aistock_core.data.service import DataService
from aistock_core.errors import ConfigError


def build_provider(settings: Settings) -> BarProvider:
    """The `BarProvider` for ``settings.data_source``; file sources need ``settings.provider_uri``."""
    source = settings.data_source
    if source == "synthetic":
        from aistock_core.data.synthetic import SyntheticMarket

        return SyntheticMarket(
            seed=settings.synthetic_seed,
            n_instruments=settings.synthetic_instruments,
            start=settings.synthetic_start,
            end=settings.synthetic_end,
        )
    uri = settings.provider_uri
    if uri is None:
        raise ConfigError(
            f"data_source {source!r} reads files but AISTOCK_PROVIDER_URI is not set; point it at the Qlib "
            f"directory, daily_pv.h5 or bars file (or use AISTOCK_DATA_SOURCE=synthetic)"
        )
    if source == "qlib":
        from aistock_core.data.qlib_bin import QlibBinProvider

        return QlibBinProvider(uri)
    if source == "h5":
        from aistock_core.data.h5 import DailyPVProvider

        return DailyPVProvider(uri)
    if source in ("parquet", "csv"):
        from aistock_core.data.tabular import FrameProvider

        if uri.suffix.lower().lstrip(".") not in ({"parquet", "pq"} if source == "parquet" else {"csv"}):
            raise ConfigError(f"data_source {source!r} but AISTOCK_PROVIDER_URI {uri} is not a .{source} file")
        return FrameProvider.from_file(uri)
    raise ConfigError(f"unknown data_source {source!r}; use synthetic, qlib, h5, parquet or csv")


def build_service(settings: Settings) -> DataService:
    """A `DataService` over `build_provider`; the synthetic market doubles as its own quote source, and
    ``quote_source="xtquant"`` takes live quotes from miniQMT instead."""
    provider = build_provider(settings)
    quotes = provider if isinstance(provider, QuoteSource) else None
    if settings.quote_source == "xtquant":
        from aistock_core.data.xtquant import XtQuantQuoteSource

        quotes = XtQuantQuoteSource()
    actions = None
    if settings.corporate_actions is not None:
        from aistock_core.data.corporate_actions import read_actions_table

        actions = read_actions_table(settings.corporate_actions)
    return DataService(provider, quotes=quotes, actions=actions)

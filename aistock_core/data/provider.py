"""The provider interface every market-data source implements, and the quote-source interface for snapshots.

A provider returns panels in its *native* adjustment (``native_adjust``: what its files hold) together with
the cumulative adjustment ``factor``; `DataService` converts to the view a caller asks for. Keeping the native
values untouched when the view matches is what makes Qlib-directory reads bit-identical to Qlib's own.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import pandas as pd

from aistock_core.calendar import TradingCalendar
from aistock_core.data.fields import Adjust
from aistock_core.data.panel import Panel
from aistock_core.errors import DataError

#: Columns of `BarProvider.instrument_spans`: one row per continuous listing span in a market.
SPAN_COLUMNS = ("instrument", "start", "end")


class BarProvider(ABC):
    """A source of daily bars."""

    #: What the stored prices are: "qlib" (raw × factor), "qfq" (raw × factor/factor_last) or None (raw).
    native_adjust: Adjust = None
    #: Human-readable origin used in every error message (e.g. ``qlib:/data/cn_data``).
    name: str = "provider"

    @property
    @abstractmethod
    def calendar(self) -> TradingCalendar:
        """The trading days the provider's data is keyed on."""

    @abstractmethod
    def instrument_spans(self, market: str = "all") -> pd.DataFrame:
        """Listing spans of a market's members: columns ``instrument, start, end`` (naive dates)."""

    @abstractmethod
    def fields(self) -> tuple[str, ...]:
        """Fields the provider can load (bare names)."""

    @abstractmethod
    def load(self, instruments: Sequence[str], dates: pd.DatetimeIndex, fields: Sequence[str]) -> Panel:
        """Native-adjusted panel for exactly these instruments × dates (cells outside a span: not listed)."""

    def markets(self) -> list[str]:
        """Names of the universes the provider knows (at least ``all``)."""
        return ["all"]

    def data_range(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """First and last day with data (by default the whole calendar)."""
        cal = self.calendar
        return cal.first, cal.last

    def instruments(self, market: str = "all", at: pd.Timestamp | str | None = None) -> list[str]:
        """Members of ``market`` (listed on ``at`` when given, else ever), sorted."""
        spans = self.instrument_spans(market)
        if at is not None:
            day = pd.Timestamp(at).normalize()
            spans = spans[(spans["start"] <= day) & (spans["end"] >= day)]
        return sorted(spans["instrument"].unique().tolist())

    def _require_market(self, market: str) -> None:
        if market not in self.markets():
            raise DataError(f"unknown market {market!r} in {self.name}; known: {', '.join(self.markets())}")


class QuoteSource(ABC):
    """Live (or simulated live) quotes: the latest state of each instrument's day at a moment."""

    name: str = "quotes"

    @abstractmethod
    def snapshot(self, instruments: Sequence[str], at: pd.Timestamp) -> pd.DataFrame:
        """Frame indexed by ``instrument`` with columns ``datetime, open, high, low, close, volume, amount,
        prev_close, limit_up, limit_down`` (raw prices; ``close`` is the last price at ``at``)."""

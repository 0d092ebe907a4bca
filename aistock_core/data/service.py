"""`DataService`: the one door all computation reads market data through (rdagent.md §12)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from aistock_core.calendar import TradingCalendar
from aistock_core.codes import to_internal_many
from aistock_core.data.adjust import convert
from aistock_core.data.fields import ADJUST_VIEWS, DAILY_FIELDS, Adjust
from aistock_core.data.panel import Panel, spans_mask
from aistock_core.data.provider import BarProvider, QuoteSource
from aistock_core.errors import DataError

Universe = str | Sequence[str]


class DataService:
    """Daily bars, instrument lists, the calendar and snapshots over one `BarProvider`.

    ``universe`` arguments take a market name (``"all"``, ``"csi300"``) or a list of codes in any spelling
    `aistock_core.codes.to_internal` accepts.
    """

    def __init__(self, provider: BarProvider, quotes: QuoteSource | None = None) -> None:
        self.provider = provider
        self.quotes = quotes

    @property
    def calendar(self) -> TradingCalendar:
        return self.provider.calendar

    def instruments(self, market: str = "all", at: pd.Timestamp | str | None = None) -> list[str]:
        return self.provider.instruments(market, at)

    # -- resolution helpers -------------------------------------------------------------------------------
    def resolve_universe(self, universe: Universe, at: pd.Timestamp | str | None = None) -> list[str]:
        """Market name → its members; codes → internal codes, each checked to exist in the provider."""
        if isinstance(universe, str) and universe in self.provider.markets():
            return self.instruments(universe, at)
        codes = [universe] if isinstance(universe, str) else list(universe)
        if not codes:
            raise DataError("empty universe: pass a market name or at least one instrument code")
        internal = to_internal_many(codes)
        # Any market's member is addressable by code: indexes usually sit in their own market, not in "all".
        known = set().union(*(self.provider.instruments(m) for m in self.provider.markets()))
        unknown = [c for c in internal if c not in known]
        if unknown:
            raise DataError(
                f"unknown instrument(s) {', '.join(unknown[:10])}{' ...' if len(unknown) > 10 else ''} "
                f"in {self.provider.name}; check the code against the provider's instruments lists"
            )
        return list(dict.fromkeys(internal))

    def resolve_dates(
        self, *, start=None, end=None, bars: int | None = None
    ) -> pd.DatetimeIndex:
        """Sessions of the request: [start, end], or the last ``bars`` sessions up to ``end``."""
        first, last = self.provider.data_range()
        end_day = last if end is None else pd.Timestamp(end).normalize()
        if end_day > last:
            raise DataError(
                f"end {end_day:%Y-%m-%d} is after the data in {self.provider.name}, which ends on {last:%Y-%m-%d}"
            )
        if bars is not None:
            if start is not None:
                raise DataError("pass either start or bars, not both")
            if bars <= 0:
                raise DataError(f"bars must be positive, got {bars}")
            dates = self.calendar.sessions_in_range(first, end_day)[-bars:]
        else:
            start_day = first if start is None else max(pd.Timestamp(start).normalize(), first)
            if start_day > end_day:
                raise DataError(
                    f"no data between {start or first} and {end_day:%Y-%m-%d} in {self.provider.name} "
                    f"(data covers {first:%Y-%m-%d}..{last:%Y-%m-%d})"
                )
            dates = self.calendar.sessions_in_range(start_day, end_day)
        if len(dates) == 0:
            raise DataError(
                f"no trading day in the requested window in {self.provider.name} "
                f"(data covers {first:%Y-%m-%d}..{last:%Y-%m-%d})"
            )
        return pd.DatetimeIndex(dates, name="datetime")

    # -- history ------------------------------------------------------------------------------------------
    def get_panel(
        self,
        universe: Universe,
        *,
        start=None,
        end=None,
        bars: int | None = None,
        fields: Sequence[str] | None = None,
        adjust: Adjust = "qlib",
        dtype: np.dtype | type | None = None,
    ) -> Panel:
        """Wide (time × instrument) form of `get_history_window`."""
        if adjust not in ADJUST_VIEWS:
            raise DataError(f"unknown adjust {adjust!r}; use 'qlib', 'qfq' or None")
        wanted = list(fields) if fields is not None else [f for f in DAILY_FIELDS if f in self.provider.fields()]
        missing = [f for f in wanted if f not in self.provider.fields()]
        if missing:
            raise DataError(
                f"field(s) {missing} not available in {self.provider.name}; available: {self.provider.fields()}"
            )
        dates = self.resolve_dates(start=start, end=end, bars=bars)
        codes = self.resolve_universe(universe, at=None)
        # The factor is needed to change views, and for qfq also to re-anchor a stored qfq source (daily_pv.h5,
        # anchored to its export's last day) to this window's last day.
        needs_factor = self.provider.native_adjust != adjust or (
            adjust == "qfq" and "factor" in self.provider.fields()
        )
        load_fields = [*wanted, "factor"] if needs_factor and "factor" not in wanted else wanted
        panel = self.provider.load(codes, dates, load_fields)
        if isinstance(universe, str) and universe in self.provider.markets():
            # Like Qlib's D.features(D.instruments(market)): rows only inside the market's membership spans.
            in_market = spans_mask(self.provider.instrument_spans(universe), panel.dates, panel.instruments)
            panel = replace(panel, listed=panel.listed & in_market)
        panel = convert(panel, self.provider.native_adjust, adjust, dtype=dtype)
        return panel.select(fields=wanted) if load_fields != wanted else panel

    def get_history_window(
        self,
        universe: Universe,
        *,
        start=None,
        end=None,
        bars: int | None = None,
        fields: Sequence[str] | None = None,
        freq: str = "1d",
        adjust: Adjust = "qlib",
    ) -> pd.DataFrame:
        """Bars as ``DataFrame(MultiIndex(datetime, instrument))``, sorted, one column per field.

        ``adjust``: "qlib" (price × factor, what Qlib bins and Alpha158 use), "qfq" (RD-Agent daily_pv: factor
        normalised to the window's last day) or None (raw prices, for orders, limits and lots).
        """
        if freq != "1d":
            raise DataError(f"freq {freq!r} is not supported for history; only '1d' (minute data: quotes)")
        return self.get_panel(
            universe, start=start, end=end, bars=bars, fields=fields, adjust=adjust
        ).to_frame()

    # -- snapshots ----------------------------------------------------------------------------------------
    def get_realtime_snapshot(self, universe: Universe, at: pd.Timestamp | str | None = None) -> pd.DataFrame:
        """Latest state per instrument at ``at`` (default: now, Shanghai time), raw prices, index ``instrument``.

        With a `QuoteSource` the intraday state is used; without one the last daily bar on or before ``at``.
        """
        stamp = pd.Timestamp.now(tz="Asia/Shanghai") if at is None else pd.Timestamp(at)
        if stamp.tzinfo is None:
            stamp = stamp.tz_localize("Asia/Shanghai")
        day = stamp.tz_convert("Asia/Shanghai").tz_localize(None).normalize()
        codes = self.resolve_universe(universe, at=None)
        if self.quotes is not None:
            return self.quotes.snapshot(codes, stamp)
        last_day = min(self.calendar.last_session_on_or_before(day), self.provider.data_range()[1])
        panel = self.get_panel(codes, end=last_day, bars=2, fields=["open", "high", "low", "close", "volume",
                                                                     "amount"], adjust=None)
        frame = panel.select(dates=panel.dates[-1:]).to_frame().droplevel("datetime")
        frame.insert(0, "datetime", last_day + pd.Timedelta(hours=15))
        frame["prev_close"] = pd.Series(panel["close"][0], index=panel.instruments) if len(panel.dates) > 1 \
            else np.nan
        return frame

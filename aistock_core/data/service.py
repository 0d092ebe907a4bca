"""`DataService`: the one door all computation reads market data through (rdagent.md §12)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from aistock_core.calendar import SESSION_TZ, TradingCalendar, exchange_now
from aistock_core.codes import to_internal_many
from aistock_core.data.adjust import convert
from aistock_core.data.fields import ADJUST_VIEWS, DAILY_FIELDS, Adjust
from aistock_core.data.panel import Panel, spans_mask
from aistock_core.data.provider import BarProvider, QuoteSource
from aistock_core.errors import DataError
from aistock_core.trading.corporate_actions import bonus_from_factor

Universe = str | Sequence[str]


class DataService:
    """Daily bars, instrument lists, the calendar and snapshots over one `BarProvider`.

    ``universe`` arguments take a market name (``"all"``, ``"csi300"``) or a list of codes in any spelling
    `aistock_core.codes.to_internal` accepts.
    """

    def __init__(
        self, provider: BarProvider, quotes: QuoteSource | None = None, actions: pd.DataFrame | None = None
    ) -> None:
        self.provider = provider
        self.quotes = quotes
        #: A corporate-actions table (`aistock_core.data.corporate_actions`), or None: derive from the factor.
        self.actions = actions

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

    def corporate_actions(self, universe: Universe, *, start=None, end=None) -> pd.DataFrame:
        """Corporate actions per share of the sessions ``start..end``: index (datetime, instrument), columns
        ``cash`` and ``bonus`` (see `aistock_core.trading.corporate_actions`), one row per action.

        From the table this service was given when there is one (``attrs["source"] = "table"``), else derived
        from the adjustment factor by the documented convention (``"factor"``: a factor step r is r − 1 bonus
        shares per share). The factor view reads the session before ``start`` too, so a step on ``start`` counts.
        """
        dates = self.resolve_dates(start=start, end=end)
        codes = self.resolve_universe(universe, at=None)
        if self.actions is not None:
            when = self.actions.index.get_level_values("datetime")
            who = self.actions.index.get_level_values("instrument")
            frame = self.actions[(when >= dates[0]) & (when <= dates[-1]) & who.isin(codes)]
            frame.attrs["source"] = "table"
            return frame
        if "factor" not in self.provider.fields():
            raise DataError(f"{self.provider.name} has no 'factor' and no corporate-actions table was given; "
                            f"set AISTOCK_CORPORATE_ACTIONS to a table of ex-dates")
        first = self.provider.data_range()[0]
        begin = self.calendar.previous(dates[0]) if dates[0] > first else dates[0]
        panel = self.get_panel(codes, start=begin, end=dates[-1], fields=["factor"], adjust=None)
        bonus = bonus_from_factor(np.where(panel.listed, panel["factor"], np.nan))
        t, i = np.nonzero(bonus)
        keep = panel.dates[t] >= dates[0]
        index = pd.MultiIndex.from_arrays([panel.dates[t[keep]], panel.instruments[i[keep]]],
                                          names=["datetime", "instrument"])
        frame = pd.DataFrame({"cash": 0.0, "bonus": bonus[t[keep], i[keep]]}, index=index).sort_index()
        frame.attrs["source"] = "factor"
        return frame

    # -- snapshots ----------------------------------------------------------------------------------------
    def get_realtime_snapshot(self, universe: Universe, at: pd.Timestamp | str | None = None) -> pd.DataFrame:
        """Latest state per instrument at ``at`` (default: now, Shanghai time), raw prices, index ``instrument``.

        With a `QuoteSource` the intraday state is used; without one the last daily bar on or before ``at``.
        """
        stamp = exchange_now() if at is None else pd.Timestamp(at)
        if stamp.tzinfo is None:
            stamp = stamp.tz_localize(SESSION_TZ)
        day = stamp.tz_convert(SESSION_TZ).tz_localize(None).normalize()
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

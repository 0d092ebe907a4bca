"""`MarketData`: the (time × instrument) arrays a backtest reads, built once from a `DataService`.

Prices are kept in Qlib's view (price × factor, the values Qlib's bins hold, widened float32 → float64 exactly
as Qlib's ``NumpyQuote`` does), so Qlib mode sees bit-identical inputs; A-share mode derives raw prices as
``close / factor``. Row 0 is the session *before* the backtest start: its scores drive the first trade day and
its close anchors the first day's change and limits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from aistock_core.codes import INDEXES, to_qlib
from aistock_core.data.service import DataService
from aistock_core.errors import DataError
from aistock_core.strategy.base import Direction
from aistock_core.trading.corporate_actions import CorporateActions

REQUIRED_FIELDS = ("close", "factor", "volume")
OPTIONAL_FIELDS = ("change", "limit_up", "limit_down", "st")


@dataclass(frozen=True)
class MarketData:
    """Daily arrays over ``dates`` (row 0 = the warm-up session) × ``instruments`` (internal codes).

    ``listed`` is False outside an instrument's listing spans (Qlib has no quote row there); a listed cell with
    NaN close is a suspension. ``bench_close`` is the benchmark's close (float32, NaN where absent).
    """

    dates: pd.DatetimeIndex
    instruments: pd.Index
    close: np.ndarray
    factor: np.ndarray
    change: np.ndarray
    volume: np.ndarray
    listed: np.ndarray
    bench_close: np.ndarray
    limit_up: np.ndarray | None = None
    limit_down: np.ndarray | None = None
    st: np.ndarray | None = None
    #: The sessions' corporate actions per share (None: A-share mode derives them from ``factor``).
    actions: CorporateActions | None = None
    benchmark: str | None = None
    #: Row of the first trade day (1 when row 0 is the warm-up session, 0 at the calendar's very start).
    first_trade_row: int = 1

    @property
    def suspended(self) -> np.ndarray:
        """No quote: not listed, or listed with NaN close (Qlib: ``$close`` NaN or no row)."""
        return ~self.listed | np.isnan(self.close)

    @property
    def raw_close(self) -> np.ndarray:
        return self.close / self.factor


def read_only(grid: np.ndarray) -> np.ndarray:
    """Mark a precomputed (T, N) rule grid read-only: exchanges hand out its rows as views, not copies."""
    grid.flags.writeable = False
    return grid


class RuleGrids:
    """What strategies ask an exchange about a day (quote, change, tradability), served as rows of precomputed
    read-only (T, N) grids, so a day reads views instead of rebuilding masks. Both exchanges share this face."""

    m: MarketData

    def _set_rule_grids(self, quoted: np.ndarray, buy_ok: np.ndarray, sell_ok: np.ndarray, any_ok: np.ndarray) -> None:
        self._quoted = read_only(quoted)
        self._buy_ok = read_only(buy_ok)
        self._sell_ok = read_only(sell_ok)
        self._any_ok = read_only(any_ok)

    def change(self, t: int) -> np.ndarray:
        """Today's ``$change`` (close / previous close - 1, Qlib view; NaN where unknown)."""
        return self.m.change[t]

    def has_quote(self, t: int) -> np.ndarray:
        return self._quoted[t]

    def tradable(self, t: int, direction: Direction) -> np.ndarray:
        if direction == "buy":
            return self._buy_ok[t]
        if direction == "sell":
            return self._sell_ok[t]
        return self._any_ok[t]


def qlib_order(codes: list[str]) -> list[str]:
    """Codes sorted as Qlib sorts its instrument names (``SH600000`` < ``SZ000001``): ties then break alike."""
    return sorted(codes, key=to_qlib)


def load_market(
    service: DataService,
    universe: str | list[str],
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    benchmark: str | None = "000300.SH",
) -> MarketData:
    """Load everything a backtest over sessions ``start..end`` needs (plus the session before ``start``).

    Missing ``change`` is derived as close/prev_close - 1 in float32 (what Qlib's dump writes). A benchmark
    the provider does not have is a `DataError` (pass ``benchmark=None`` for a zero benchmark). Corporate
    actions come from the service's table when it has one; otherwise ``actions`` stays None and A-share mode
    derives them from the factor already loaded here (the view's convention, without a second read).
    """
    cal = service.calendar
    sessions = cal.sessions_in_range(start, end)
    if len(sessions) == 0:
        raise DataError(f"backtest window {start}..{end} holds no session of {service.provider.name}'s calendar")
    first, last = sessions[0], sessions[-1]
    warm = cal.previous(first) if first > cal.first else first
    codes = qlib_order([c for c in service.resolve_universe(universe) if c not in INDEXES])
    if not codes:
        raise DataError(f"universe {universe!r} has no instruments in {service.provider.name}")
    available = service.provider.fields()
    missing = [f for f in REQUIRED_FIELDS if f not in available]
    if missing:
        raise DataError(f"{service.provider.name} lacks field(s) {missing} that a backtest needs")
    fields = [*REQUIRED_FIELDS, *(f for f in OPTIONAL_FIELDS if f in available)]
    panel = service.get_panel(codes, start=warm, end=last, fields=fields, adjust="qlib")
    panel = panel.select(instruments=codes)

    def arr(name: str) -> np.ndarray:
        return np.asarray(panel[name], dtype=np.float64)

    close = arr("close")
    listed = panel.listed.copy()
    close[~listed] = np.nan
    if "change" in panel.fields:
        change = arr("change")
    else:
        c32 = panel["close"].astype(np.float32)
        prev = np.vstack([np.full((1, c32.shape[1]), np.nan, np.float32), c32[:-1]])
        change = (c32 / prev - np.float32(1)).astype(np.float64)
    change[~listed] = np.nan
    bench = np.zeros(len(panel.dates), dtype=np.float32) * np.nan
    if benchmark:
        b = service.get_panel([benchmark], start=warm, end=last, fields=["close"], adjust="qlib")
        bench = np.where(b.listed[:, 0], b["close"][:, 0], np.nan).astype(np.float32)
    return MarketData(
        dates=panel.dates,
        instruments=pd.Index(codes, name="instrument"),
        close=close,
        factor=arr("factor"),
        change=change,
        volume=arr("volume"),
        listed=listed,
        bench_close=bench,
        limit_up=arr("limit_up") if "limit_up" in panel.fields else None,
        limit_down=arr("limit_down") if "limit_down" in panel.fields else None,
        st=np.asarray(panel["st"], dtype=float) > 0.5 if "st" in panel.fields else None,
        actions=None if service.actions is None else CorporateActions.from_frame(
            service.corporate_actions(codes, start=warm, end=last), panel.dates, pd.Index(codes), from_table=True),
        benchmark=benchmark,
        first_trade_row=1 if warm < first else 0,
    )


def bench_returns(bench_close: np.ndarray) -> np.ndarray:
    """Qlib's benchmark series: ``$close/Ref($close,1)-1`` in float32, NaN → 0, then ``(x+1).prod()-1``.

    Every step is float32 on purpose: Qlib evaluates the expression and the one-day product in float32.
    """
    c = np.asarray(bench_close, dtype=np.float32)
    prev = np.concatenate([np.full(1, np.nan, np.float32), c[:-1]])
    with np.errstate(invalid="ignore", divide="ignore"):
        x = c / prev - np.float32(1)
    x = np.where(np.isnan(x), np.float32(0), x).astype(np.float32)
    return ((x + np.float32(1)) - np.float32(1)).astype(np.float32)

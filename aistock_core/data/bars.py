"""One trading day's bars as stored in the Parquet store, the instrument table, and their summary figures.

Stored bars are *raw* prices plus the cumulative ``factor``: orders, limits and lots need raw
prices, and every adjusted view can be rebuilt from raw × factor. ``change``, ``limit_up``, ``limit_down`` and
``suspended`` are taken from the provider when it knows them and derived from the previous session otherwise,
so downstream code (the Qlib ``|change| ≥ 0.095`` rule, pre-trade limit checks) always finds them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from aistock_core.codes import INDEXES, board_of
from aistock_core.data.fields import DAILY_FIELDS, EXTRA_FIELDS
from aistock_core.data.panel import Panel
from aistock_core.data.service import DataService
from aistock_core.errors import DataError
from aistock_core.trading.prices import price_band
from aistock_core.trading.rules import no_trade

#: The two indexes the end-of-day pipeline keeps (benchmark and the composite).
DEFAULT_INDEXES: tuple[str, ...] = ("000300.SH", "000001.SH")
#: Column order of a stored bars partition (only the columns the provider can supply or we can derive).
BAR_COLUMNS: tuple[str, ...] = (*DAILY_FIELDS, *EXTRA_FIELDS)
#: A close within this of the limit price counts as "at the limit" (float32 storage rounds by < 1e-4 yuan).
_LIMIT_TOL = 1e-4


def _session_in_data(service: DataService, day) -> pd.Timestamp:
    """The day as a session inside the provider's data, else a `CalendarError`/`DataError` saying which."""
    day = service.calendar.require_session(day)
    first, last = service.provider.data_range()
    if not first <= day <= last:
        raise DataError(
            f"{day:%Y-%m-%d} is outside the data of {service.provider.name} ({first:%Y-%m-%d}..{last:%Y-%m-%d}); "
            f"pick a partition inside that range or extend the data source"
        )
    return day


def _load_raw(service: DataService, codes: Sequence[str], day: pd.Timestamp) -> Panel:
    """Raw-price panel for the previous session and ``day`` (the previous close feeds change and limits)."""
    provider = service.provider
    first = provider.data_range()[0]
    available = provider.fields()
    wanted = [f for f in BAR_COLUMNS if f in available]
    if "close" not in wanted or "factor" not in wanted:
        raise DataError(f"{provider.name} cannot supply 'close' and 'factor'; stored bars need both")
    dates = service.calendar.sessions_in_range(max(service.calendar.previous(day), first), day)
    return service.get_panel(list(codes), start=dates[0], end=day, fields=wanted, adjust=None)


def _flag(values: np.ndarray) -> np.ndarray:
    """A 0/1 (or bool) field as bool, NaN meaning False (``NaN.astype(bool)`` would say True)."""
    return np.nan_to_num(np.asarray(values, dtype=np.float64)) > 0


def _derive(panel: Panel, actions: pd.DataFrame | None) -> dict[str, np.ndarray]:
    """The last row of every field, plus ``change/limit_up/limit_down/suspended`` where the panel lacks them.

    Limits (only when ``actions`` is given: stocks) are around the day's reference price: the previous close
    adjusted for the day's corporate actions (``actions``: the service's view for the day).
    """
    row = {name: arr[-1].astype(np.float64) for name, arr in panel.values.items()}
    for name in ("suspended", "st"):
        if name in row:
            row[name] = _flag(row[name])
    close = row["close"]
    prev_close = panel["close"][-2].astype(np.float64) if len(panel.dates) > 1 else np.full_like(close, np.nan)
    if "suspended" not in row:
        row["suspended"] = no_trade(close, row.get("volume"))
    if "change" not in row:
        with np.errstate(invalid="ignore", divide="ignore"):
            row["change"] = close / prev_close - 1.0
    if actions is not None:
        today = actions.droplevel("datetime").reindex(panel.instruments, fill_value=0.0)
        # No previous close (an IPO's first day): no limit, NaN, as the exchange has none.
        _, up, down = price_band(list(panel.instruments), prev_close, st=row.get("st"),
                                 cash=today["cash"].to_numpy(), bonus=today["bonus"].to_numpy())
        row.setdefault("limit_up", up)
        row.setdefault("limit_down", down)
    return row


def _frame(day: pd.Timestamp, instruments: pd.Index, row: dict[str, np.ndarray]) -> pd.DataFrame:
    index = pd.MultiIndex.from_arrays(
        [pd.DatetimeIndex(np.repeat(day.to_datetime64(), len(instruments))).as_unit("ns"), instruments.astype(str)],
        names=["datetime", "instrument"],
    )
    columns = [c for c in BAR_COLUMNS if c in row]
    return pd.DataFrame({c: row[c] for c in columns}, index=index).sort_index()


def day_bars(service: DataService, day: pd.Timestamp, market: str = "all") -> pd.DataFrame:
    """Raw bars of every stock of ``market`` listed on ``day``, indexed (datetime, instrument), sorted.

    A listed but suspended stock keeps its row (NaN prices, ``suspended`` True) so a reader can tell
    "suspended" from "not listed".
    """
    day = _session_in_data(service, day)
    codes = [c for c in service.instruments(market, at=day) if c not in INDEXES]
    if not codes:
        raise DataError(f"no stock of market {market!r} is listed on {day:%Y-%m-%d} in {service.provider.name}")
    panel = _load_raw(service, codes, day)
    return _frame(day, panel.instruments, _derive(panel, service.corporate_actions(codes, start=day, end=day)))


def index_day_bars(service: DataService, day: pd.Timestamp, indexes: Sequence[str] = DEFAULT_INDEXES) -> pd.DataFrame:
    """Bars of the given indexes on ``day`` (no price limits apply to an index)."""
    day = _session_in_data(service, day)
    codes = service.resolve_universe(list(indexes))
    panel = _load_raw(service, codes, day)
    return _frame(day, panel.instruments, _derive(panel, None))


def bars_summary(frame: pd.DataFrame) -> dict[str, int]:
    """Figures a user checks first: rows, instruments, suspended, and closes at the up/down limit."""
    close = frame["close"].to_numpy(dtype=np.float64)
    suspended = frame["suspended"].to_numpy(dtype=bool) if "suspended" in frame else np.isnan(close)
    out = {
        "rows": len(frame),
        "instruments": int(frame.index.get_level_values("instrument").nunique()),
        "suspended": int(suspended.sum()),
    }
    for col, key in (("limit_up", "limit_up"), ("limit_down", "limit_down")):
        if col in frame:
            with np.errstate(invalid="ignore"):
                at = np.abs(close - frame[col].to_numpy(dtype=np.float64)) <= _LIMIT_TOL
            out[key] = int((at & ~suspended).sum())
    return out


def instrument_table(service: DataService, markets: Sequence[str] = ("all", "index")) -> pd.DataFrame:
    """One row per instrument of the markets: ``code, board, list_date, delist_date``.

    ``list_date`` is the first span start; ``delist_date`` the last span end when it lies before the end of
    the provider's data (a span reaching the data's end means "still listed": None).
    """
    known = [m for m in markets if m in service.provider.markets()]
    if not known:
        raise DataError(f"none of the markets {list(markets)} exist in {service.provider.name}")
    spans = pd.concat([service.provider.instrument_spans(m) for m in known], ignore_index=True)
    grouped = spans.groupby("instrument", sort=True).agg(list_date=("start", "min"), delist_date=("end", "max"))
    data_end = service.provider.data_range()[1]
    delisted = grouped["delist_date"] < data_end
    table = pd.DataFrame({
        "code": grouped.index.astype(str),
        "board": [str(board_of(c)) for c in grouped.index],
        "list_date": pd.to_datetime(grouped["list_date"]).dt.date.to_numpy(),
        "delist_date": np.where(delisted, pd.to_datetime(grouped["delist_date"]).dt.date, None),
    })
    return table.reset_index(drop=True)

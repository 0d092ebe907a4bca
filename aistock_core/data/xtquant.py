"""Live quotes from miniQMT through xtquant (Windows only; the ``qmt`` extra).

xtquant's ``xtdata.get_full_tick(codes)`` returns, per code in our internal spelling (``600000.SH``), a dict like
``{"timetag": "20231106 15:00:04", "lastPrice": 2.533, "open": .., "high": .., "low": .., "lastClose": 2.513,
"amount": 1442588037.0, "volume": 5701929, "stockStatus": 5, ...}`` where ``volume`` is in lots (手) and
``amount`` in yuan. This module turns that into the `QuoteSource` frame every consumer expects, and refuses bad
quotes (missing fields, non-positive prices, high < low) naming the instrument, so that nothing downstream
trades on a broken tick.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from aistock_core.calendar import SESSION_TZ
from aistock_core.codes import to_internal_many
from aistock_core.data.provider import QuoteSource
from aistock_core.errors import ConfigError, DataError
from aistock_core.trading.prices import price_band

_REQUIRED = ("timetag", "lastPrice", "open", "high", "low", "lastClose", "volume", "amount")
SHARES_PER_LOT = 100


def _load_xtdata() -> ModuleType:
    try:
        from xtquant import xtdata  # type: ignore[import-not-found]
    except ImportError as exc:
        raise ConfigError(
            "xtquant is not installed: live quotes need miniQMT on Windows and `pip install -e .[qmt]`; "
            "use the synthetic or Qlib data source elsewhere"
        ) from exc
    return xtdata


def ticks_to_frame(ticks: Mapping[str, Mapping[str, Any]], instruments: Sequence[str]) -> pd.DataFrame:
    """Convert ``get_full_tick`` output for ``instruments`` into the quote frame (raw prices, shares)."""
    codes = to_internal_many(instruments)
    missing = [c for c in codes if c not in ticks]
    if missing:
        raise DataError(f"xtquant returned no tick for {', '.join(missing[:10])}; is the code listed and subscribed?")
    rows = []
    for code in codes:
        tick = ticks[code]
        absent = [k for k in _REQUIRED if k not in tick]
        if absent:
            raise DataError(f"bad quote for {code}: missing field(s) {absent} in the xtquant tick")
        rows.append([tick[k] for k in _REQUIRED])
    frame = pd.DataFrame(rows, columns=list(_REQUIRED), index=pd.Index(codes, name="instrument"))
    stamps = pd.to_datetime(frame["timetag"], format="%Y%m%d %H:%M:%S", errors="coerce")
    if stamps.isna().any():
        bad = stamps.index[stamps.isna()][0]
        raise DataError(f"bad quote for {bad}: unparsable timetag {frame.at[bad, 'timetag']!r}")
    prices = frame[["lastPrice", "open", "high", "low", "lastClose"]].to_numpy(dtype=float)
    traded = frame["volume"].to_numpy(dtype=float) > 0
    bad_price = (prices[:, [0, 4]] <= 0).any(axis=1) | (traded & (prices[:, 1:4] <= 0).any(axis=1))
    bad_range = traded & ((prices[:, 2] < prices[:, 3]) | (prices[:, 0] > prices[:, 2]) | (prices[:, 0] < prices[:, 3]))
    for mask, rule in ((bad_price, "prices must be positive"), (bad_range, "low <= last <= high")):
        if mask.any():
            code = frame.index[mask][0]
            raise DataError(f"bad quote for {code}: violates '{rule}' ({dict(frame.loc[code, list(_REQUIRED)])})")
    prev_close = prices[:, 4]
    # The quote's lastClose is already the exchange's reference price (adjusted on an ex-date).
    _, limit_up, limit_down = price_band(list(frame.index), prev_close)
    out = pd.DataFrame(
        {
            "datetime": stamps.dt.tz_localize(SESSION_TZ),
            "open": np.where(traded, prices[:, 1], np.nan),
            "high": np.where(traded, prices[:, 2], np.nan),
            "low": np.where(traded, prices[:, 3], np.nan),
            "close": prices[:, 0],
            "volume": frame["volume"].to_numpy(dtype=float) * SHARES_PER_LOT,
            "amount": frame["amount"].to_numpy(dtype=float),
            "prev_close": prev_close,
            "limit_up": limit_up,
            "limit_down": limit_down,
            "suspended": ~traded,
        },
        index=frame.index,
    )
    return out


class XtQuantQuoteSource(QuoteSource):
    """`QuoteSource` over a running miniQMT client. ``xtdata`` is injectable for use inside miniQMT scripts."""

    name = "xtquant"

    def __init__(self, xtdata: ModuleType | Any | None = None) -> None:
        self._xtdata = xtdata

    @property
    def xtdata(self):
        if self._xtdata is None:
            self._xtdata = _load_xtdata()
        return self._xtdata

    def snapshot(self, instruments: Sequence[str], at: pd.Timestamp | None = None) -> pd.DataFrame:
        """The latest full tick of each instrument; ``at`` is ignored (a live source only knows now)."""
        codes = to_internal_many(instruments)
        return ticks_to_frame(self.xtdata.get_full_tick(codes), codes)

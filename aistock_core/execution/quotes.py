"""The market view an order run trades on: latest price, the day's exact limit band, suspension, ST, volume.

Limit prices are recomputed from the reference close with `aistock_core.trading.prices.price_band` (exact in
cents, board and ST rates from `trading.rules`) rather than trusted from a quote feed, so the planner, the risk
engine and the simulated broker all use the same band to the cent. A name without a valid last price takes no
orders (`trading.rules.no_trade`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from aistock_core.data.service import DataService
from aistock_core.errors import DataError
from aistock_core.trading.prices import price_band
from aistock_core.trading.rules import no_trade

QUOTE_COLUMNS = ("last", "prev_close", "limit_up", "limit_down", "suspended", "st", "recent_volume")


def build_quotes(
    symbols: Sequence[str],
    last: np.ndarray,
    prev_close: np.ndarray,
    *,
    suspended: np.ndarray | None = None,
    st: np.ndarray | None = None,
    recent_volume: np.ndarray | None = None,
) -> pd.DataFrame:
    """A quote frame (index ``symbol``, `QUOTE_COLUMNS`) with the exact limit band of each name.

    ``recent_volume`` (shares) feeds the participation cap; NaN or absent means "no cap".
    """
    n = len(symbols)
    st = np.zeros(n, bool) if st is None else np.asarray(st, bool)
    _, up, down = price_band(list(symbols), np.asarray(prev_close, float), st=st)
    last = np.asarray(last, float)
    susp = no_trade(last) if suspended is None else (np.asarray(suspended, bool) | no_trade(last))
    return pd.DataFrame(
        {"last": last, "prev_close": np.asarray(prev_close, float), "limit_up": up, "limit_down": down,
         "suspended": susp, "st": st,
         "recent_volume": np.full(n, np.nan) if recent_volume is None else np.asarray(recent_volume, float)},
        index=pd.Index(list(symbols), name="symbol"),
    )


def market_quotes(data: DataService, symbols: Sequence[str], at: pd.Timestamp) -> pd.DataFrame:
    """Quotes at ``at`` from the data service: the realtime snapshot's last price and reference close, ST flags
    and the previous session's volume (the participation base) from the daily bars where the provider has them."""
    if not len(symbols):
        raise DataError("no symbols to quote; pass at least one instrument")
    snap = data.get_realtime_snapshot(list(symbols), at=at).reindex(list(symbols))
    day = pd.Timestamp(at).tz_localize(None).normalize() if pd.Timestamp(at).tzinfo is None else \
        pd.Timestamp(at).tz_convert("Asia/Shanghai").tz_localize(None).normalize()
    prev = data.calendar.last_session_before(day)
    fields = ["volume"] + (["st"] if "st" in data.provider.fields() else [])
    panel = data.get_panel(list(symbols), end=min(prev, data.provider.data_range()[1]), bars=1, fields=fields,
                           adjust=None)
    st = panel["st"][-1] == 1 if "st" in fields else None
    suspended = snap["suspended"].to_numpy(bool) if "suspended" in snap else None
    return build_quotes(list(symbols), snap["close"].to_numpy(float), snap["prev_close"].to_numpy(float),
                        suspended=suspended, st=st, recent_volume=panel["volume"][-1])

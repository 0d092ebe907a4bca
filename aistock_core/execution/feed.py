"""Minute prices and volumes the simulated broker matches against, from the data service.

The synthetic market's minute paths (`SyntheticMarket.minute_path`) agree with its daily bars by construction;
minute volumes spread the day's volume over the session with the same U-shaped profile its snapshots use
(`aistock_core.data.intraday.volume_profile`). The limit band comes from `market_quotes`, i.e. from the
trading package's exact limit prices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from aistock_core.data import intraday
from aistock_core.data.service import DataService
from aistock_core.errors import DataError
from aistock_core.execution.quotes import market_quotes


@dataclass(frozen=True)
class DayBook:
    """One day of minute data for some symbols: (240, N) closes and volumes, and the (N,) limit band."""

    symbols: pd.Index
    close: np.ndarray
    volume: np.ndarray
    limit_up: np.ndarray
    limit_down: np.ndarray


class MinuteFeed:
    """Minute bars per day and symbol, cached and loaded in batches (`preload` a universe once per day); needs a
    provider with minute paths (the synthetic market)."""

    def __init__(self, data: DataService) -> None:
        if not hasattr(data.provider, "minute_path"):
            raise DataError(f"{data.provider.name} has no minute paths; the simulated broker needs the synthetic "
                            f"market (AISTOCK_DATA_SOURCE=synthetic)")
        self.data = data
        self._cache: dict[pd.Timestamp, dict[str, tuple[np.ndarray, np.ndarray, float, float]]] = {}

    def preload(self, day: pd.Timestamp, symbols: Sequence[str]) -> None:
        """Load the symbols of ``day`` not cached yet, in one batch."""
        day = pd.Timestamp(day).normalize()
        known = self._cache.setdefault(day, {})
        missing = sorted(set(symbols) - set(known))
        if not missing:
            return
        close = self.data.provider.minute_path(day, missing)
        end = (day + pd.Timedelta(hours=15)).tz_localize("Asia/Shanghai")
        total = self.data.get_realtime_snapshot(missing, at=end)["volume"].reindex(missing).to_numpy(float)
        volume = np.diff(intraday.volume_profile())[:, None] * np.nan_to_num(total)[None, :]
        quotes = market_quotes(self.data, missing, at=(day + pd.Timedelta(hours=9, minutes=30)).tz_localize(
            "Asia/Shanghai"))
        for j, code in enumerate(missing):
            known[code] = (close[:, j], volume[:, j], float(quotes["limit_up"].iloc[j]),
                           float(quotes["limit_down"].iloc[j]))

    def band(self, day: pd.Timestamp, symbol: str) -> tuple[float, float]:
        """(limit up, limit down) of one symbol on ``day``."""
        day = pd.Timestamp(day).normalize()
        self.preload(day, [symbol])
        _, _, up, down = self._cache[day][symbol]
        return up, down

    def day(self, day: pd.Timestamp, symbols: Sequence[str]) -> DayBook:
        day = pd.Timestamp(day).normalize()
        codes = list(dict.fromkeys(symbols))
        self.preload(day, codes)
        rows = [self._cache[day][c] for c in codes]
        return DayBook(pd.Index(codes), np.column_stack([r[0] for r in rows]), np.column_stack([r[1] for r in rows]),
                       np.array([r[2] for r in rows]), np.array([r[3] for r in rows]))

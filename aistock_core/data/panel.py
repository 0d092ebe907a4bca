"""`Panel`: wide (time × instrument) arrays, the form providers return and engines compute on.

Long frames (`MultiIndex(datetime, instrument)`) are for exchange with users and files; converting between
the two happens here only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from aistock_core.errors import DataError


@dataclass(frozen=True)
class Panel:
    """Daily data for a block of sessions × instruments.

    ``values[f]`` is a (T, N) array aligned to ``dates`` × ``instruments``. ``listed[t, i]`` is True while the
    instrument is inside its listing span (a suspended day is listed with NaN prices); long frames keep
    exactly the listed cells, as Qlib's ``D.features`` does.
    """

    dates: pd.DatetimeIndex
    instruments: pd.Index
    values: dict[str, np.ndarray]
    listed: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        shape = (len(self.dates), len(self.instruments))
        if self.listed.shape != shape:
            raise DataError(f"panel listed mask has shape {self.listed.shape}, expected {shape}")
        for name, arr in self.values.items():
            if arr.shape != shape:
                raise DataError(f"panel field {name!r} has shape {arr.shape}, expected {shape}")

    @property
    def fields(self) -> list[str]:
        return list(self.values)

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.values[name]
        except KeyError:
            raise DataError(f"field {name!r} not in panel (has {self.fields})") from None

    def wide(self, name: str) -> pd.DataFrame:
        """One field as a (datetime × instrument) DataFrame."""
        return pd.DataFrame(self[name], index=self.dates, columns=self.instruments)

    def select(
        self,
        fields: Iterable[str] | None = None,
        instruments: Iterable[str] | None = None,
        dates: pd.DatetimeIndex | None = None,
    ) -> Panel:
        """A sub-panel (copies nothing it does not have to)."""
        names = list(fields) if fields is not None else self.fields
        row = slice(None) if dates is None else self.dates.get_indexer(dates)
        col = slice(None) if instruments is None else self.instruments.get_indexer(list(instruments))
        if not isinstance(row, slice) and (row < 0).any():
            raise DataError("requested dates are not in the panel")
        if not isinstance(col, slice) and (col < 0).any():
            raise DataError("requested instruments are not in the panel")
        values = {n: self[n][row][:, col] for n in names}
        return Panel(
            dates=self.dates if dates is None else pd.DatetimeIndex(dates, name="datetime"),
            instruments=self.instruments[col] if not isinstance(col, slice) else self.instruments,
            values=values,
            listed=self.listed[row][:, col],
        )

    def to_frame(self, fields: Iterable[str] | None = None) -> pd.DataFrame:
        """Long frame indexed by (datetime, instrument), sorted, keeping listed cells only."""
        if not self.instruments.is_monotonic_increasing:
            return self.select(instruments=self.instruments.sort_values()).to_frame(fields)
        names = list(fields) if fields is not None else self.fields
        t_idx, i_idx = np.nonzero(self.listed)
        # Build the index from integer codes (factorising ~10^6 timestamps again would dominate the cost),
        # with only the dates/instruments that have rows as levels, as MultiIndex.from_arrays would give.
        t_used, i_used = self.listed.any(axis=1), self.listed.any(axis=0)
        index = pd.MultiIndex(
            levels=[self.dates[t_used], self.instruments[i_used]],
            codes=[(np.cumsum(t_used) - 1)[t_idx], (np.cumsum(i_used) - 1)[i_idx]],
            names=["datetime", "instrument"], verify_integrity=False,
        )
        data = {n: self[n][t_idx, i_idx] for n in names}
        return pd.DataFrame(data, index=index)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, fields: Iterable[str] | None = None) -> Panel:
        """Build from a long (datetime, instrument) frame; cells absent from the frame are not listed."""
        if list(frame.index.names) != ["datetime", "instrument"]:
            raise DataError(f"frame index must be (datetime, instrument), got {list(frame.index.names)}")
        names = list(fields) if fields is not None else list(frame.columns)
        dates = pd.DatetimeIndex(frame.index.get_level_values(0).unique().sort_values(), name="datetime")
        instruments = pd.Index(frame.index.get_level_values(1).unique().sort_values(), name="instrument")
        t = dates.get_indexer(frame.index.get_level_values(0))
        i = instruments.get_indexer(frame.index.get_level_values(1))
        shape = (len(dates), len(instruments))
        listed = np.zeros(shape, dtype=bool)
        listed[t, i] = True
        values = {}
        for n in names:
            col = frame[n].to_numpy()
            dtype = np.float64 if col.dtype.kind in "biuf" and col.dtype != np.float32 else col.dtype
            arr = np.full(shape, np.nan if np.dtype(dtype).kind == "f" else False, dtype=dtype)
            arr[t, i] = col
            values[n] = arr
        return cls(dates=dates, instruments=instruments, values=values, listed=listed)


def spans_mask(spans: pd.DataFrame, dates: pd.DatetimeIndex, instruments: pd.Index) -> np.ndarray:
    """(T, N) mask: True where ``dates[t]`` lies inside one of ``instruments[i]``'s listing spans.

    ``spans`` has columns ``instrument, start, end`` (inclusive, several rows per instrument allowed, as in
    Qlib's instruments files). Built with a difference array, so the cost is O(spans + T·N), not a loop.
    """
    shape = (len(dates), len(instruments))
    col = instruments.get_indexer(spans["instrument"])
    keep = col >= 0
    values = dates.values
    lo = np.searchsorted(values, pd.DatetimeIndex(spans["start"]).values[keep], side="left")
    hi = np.searchsorted(values, pd.DatetimeIndex(spans["end"]).values[keep], side="right")
    col = col[keep]
    diff = np.zeros((shape[0] + 1, shape[1]), dtype=np.int32)
    np.add.at(diff, (lo, col), 1)
    np.add.at(diff, (hi, col), -1)
    return np.cumsum(diff, axis=0)[:-1] > 0

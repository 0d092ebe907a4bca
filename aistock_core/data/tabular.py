"""Bars held in a long frame (from Parquet, CSV or memory) as a `BarProvider`.

Everything that enters from a file passes `normalise_bars` first: index (datetime, instrument) with naive
trade dates, codes in the internal spelling, bare lower-case columns, float columns, sorted, then the shared
schema rules (`schema.check_frame`). The frame is turned into wide arrays once; `load` only slices them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from aistock_core.calendar import TradingCalendar, xshg_calendar
from aistock_core.codes import to_internal_many
from aistock_core.data.fields import Adjust
from aistock_core.data.panel import Panel
from aistock_core.data.provider import BarProvider
from aistock_core.data.schema import check_frame
from aistock_core.errors import AistockError, DataError, InstrumentError

INDEX_NAMES = ["datetime", "instrument"]
#: Fields every bars file must carry.
REQUIRED_FIELDS = ("open", "high", "low", "close", "volume")


def normalise_bars(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """A bars frame in project form: (datetime, instrument) index, internal codes, bare lower-case columns.

    Accepts the index as a MultiIndex (either level order) or as ``datetime``/``instrument`` columns, codes in
    any spelling `to_internal` knows and ``$``-prefixed column names. Validated with `check_frame`.
    """
    df = frame
    if list(df.index.names) == INDEX_NAMES[::-1]:
        df = df.swaplevel()
    elif list(df.index.names) != INDEX_NAMES:
        if not set(INDEX_NAMES) <= set(df.columns):
            raise DataError(
                f"bars from {source} need a (datetime, instrument) index or 'datetime' and 'instrument' "
                f"columns; found index {list(df.index.names)} and columns {list(df.columns)[:12]}"
            )
        df = df.set_index(INDEX_NAMES)
    df = df.rename(columns=lambda c: str(c).strip().lstrip("$").lower())
    dupes = df.columns[df.columns.duplicated()].tolist()
    if dupes:
        raise DataError(f"bars from {source} have duplicate columns after normalising names: {dupes}")
    try:
        codes = pd.Index(df.index.get_level_values("instrument").astype(str))
        uniq = codes.unique()
        internal = pd.Index(to_internal_many(uniq))[uniq.get_indexer(codes)]
        days = pd.DatetimeIndex(df.index.get_level_values("datetime"))
    except InstrumentError as exc:
        raise DataError(f"bars from {source}: {exc}") from exc
    except (ValueError, TypeError) as exc:
        raise DataError(f"bars from {source}: the datetime level does not parse as dates ({exc})") from exc
    if days.tz is not None:
        days = days.tz_convert("Asia/Shanghai").tz_localize(None)
    df = df.set_axis(pd.MultiIndex.from_arrays([days.normalize(), internal], names=INDEX_NAMES), axis=0)
    df = df.sort_index()
    checked = check_frame(df, source)  # coerces numbers to float64; float32 sources (daily_pv.h5) stay float32
    return checked.astype({c: np.float32 for c in df.columns if df[c].dtype == np.float32})


def read_table(path: str | Path, *, what: str, error: type[AistockError] = DataError,
               categories: Sequence[str] = ()) -> pd.DataFrame:
    """Read a ``.parquet``/``.pq`` or ``.csv`` table from outside (bars, scores), raising ``error`` with
    ``what`` and the path on a missing file, an unknown format or an unreadable one. CSV instrument codes
    stay strings (``000001`` must not become 1); dates are parsed by the caller's normaliser.

    ``categories``: Parquet string columns to read as categoricals, for a caller that only factorises them (a
    few hundred codes repeated over a million rows are then decoded once each, not once per row); a column that
    is absent or not a string stays as it is."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise error(f"{what} {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path, read_dictionary=list(categories))
        if suffix == ".csv":
            return pd.read_csv(path, dtype={"instrument": str})
    except (ValueError, OSError, KeyError, pd.errors.ParserError) as exc:
        raise error(f"cannot read {what} {path}: {exc}") from exc
    raise error(f"{what} {path}: unknown format {suffix!r}; use .parquet or .csv (pickles are not loaded: unsafe)")


class FrameProvider(BarProvider):
    """Bars from a long frame. ``native_adjust`` says what its prices are (None: raw, with ``factor``).

    Listing spans are each instrument's first to last row; the listed cells are exactly the frame's rows.
    A missing ``factor`` defaults to 1.0 (raw prices with no corporate actions) unless ``require_factor``.
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        *,
        name: str,
        native_adjust: Adjust = None,
        calendar: TradingCalendar | None = None,
        require_factor: bool = False,
    ) -> None:
        self.name = name
        self.native_adjust = native_adjust
        df = normalise_bars(frame, name)
        missing = [c for c in REQUIRED_FIELDS if c not in df.columns]
        if missing:
            raise DataError(f"bars from {name} lack required column(s) {missing}; found {list(df.columns)}")
        if "factor" not in df.columns and not require_factor:
            df = df.assign(factor=np.float32(1.0))
        if df.empty:
            raise DataError(f"bars from {name} hold no rows")
        self._panel = Panel.from_frame(df)
        days = self._panel.dates
        if calendar is None:  # XSHG, reaching back to the data when it starts before the default 2005 start
            early = days[0] < xshg_calendar().first
            calendar = xshg_calendar(f"{days[0]:%Y-%m-%d}") if early else xshg_calendar()
        self._calendar = calendar
        off = days[self._calendar.sessions.get_indexer(days) < 0]
        if len(off):
            raise DataError(
                f"bars from {name} have rows on {len(off)} day(s) that are not sessions of calendar "
                f"{self._calendar.name!r}, first {off[0]:%Y-%m-%d}; drop them or pass the right calendar"
            )
        listed = self._panel.listed
        first = np.argmax(listed, axis=0)
        last = len(days) - 1 - np.argmax(listed[::-1], axis=0)
        self._spans = pd.DataFrame(
            {"instrument": self._panel.instruments.to_numpy(), "start": days[first], "end": days[last]}
        )

    @classmethod
    def from_file(cls, path: str | Path, **kwargs) -> FrameProvider:
        """Read a ``.parquet``/``.pq`` or ``.csv`` bars file (see `normalise_bars` for accepted shapes)."""
        path = Path(path).expanduser()
        frame = read_table(path, what="bars file")
        suffix = path.suffix.lower()
        kwargs.setdefault("name", f"{suffix.lstrip('.')}:{path}")
        return cls(frame, **kwargs)

    @property
    def calendar(self) -> TradingCalendar:
        return self._calendar

    def data_range(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        return self._panel.dates[0], self._panel.dates[-1]

    def instrument_spans(self, market: str = "all") -> pd.DataFrame:
        self._require_market(market)
        return self._spans

    def fields(self) -> tuple[str, ...]:
        return tuple(self._panel.fields)

    def load(self, instruments: Sequence[str], dates: pd.DatetimeIndex, fields: Sequence[str]) -> Panel:
        absent = [f for f in fields if f not in self._panel.values]
        if absent:
            raise DataError(f"{self.name} has no column(s) {absent}; it has {self.fields()}")
        dates = pd.DatetimeIndex(dates, name="datetime")
        codes = pd.Index(list(instruments), name="instrument")
        rows = self._panel.dates.get_indexer(dates)
        cols = self._panel.instruments.get_indexer(codes)
        inside = (rows >= 0)[:, None] & (cols >= 0)[None, :]
        r, c = np.ix_(np.maximum(rows, 0), np.maximum(cols, 0))
        values = {}
        for f in fields:
            src = self._panel.values[f]
            fill = np.nan if src.dtype.kind == "f" else False
            values[f] = np.where(inside, src[r, c], fill)
        listed = inside & self._panel.listed[r, c]
        return Panel(dates=dates, instruments=codes, values=values, listed=listed)

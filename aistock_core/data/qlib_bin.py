"""Qlib binary data directories: read them as a `BarProvider`, and write any provider out in Qlib's format.

Layout (Qlib 0.9.7, ``qlib/data/storage/file_storage.py``)::

    calendars/day.txt                      one session per line
    instruments/<market>.txt               SH600000<TAB>2008-01-02<TAB>2020-12-31 (several spans per code allowed)
    features/sh600000/<field>.day.bin      little-endian float32: [start index into the calendar, v0, v1, ...]

Row sets follow ``DatasetProvider.inst_calculator``: for each instrument, the calendar rows some requested
field's bin covers, inside the window; all-NaN rows are kept (Qlib never drops NaN rows). `QlibBinProvider.load`
gets a list of codes, so like ``D.features(["SH600000", ...])`` it applies no spans; `DataService` masks a
market request with that market's spans, as ``D.features(D.instruments("csi300"))`` does.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from aistock_core.calendar import TradingCalendar, qlib_calendar
from aistock_core.codes import to_internal_many, to_qlib
from aistock_core.data.panel import Panel
from aistock_core.data.provider import SPAN_COLUMNS, BarProvider
from aistock_core.data.schema import check_panel
from aistock_core.data.service import DataService
from aistock_core.data.store import atomic_path
from aistock_core.errors import DataError, InstrumentError

#: What `write_qlib_dir` dumps by default: Qlib's Exchange needs ``$change`` and ``$factor``.
QLIB_EXPORT_FIELDS = ("open", "high", "low", "close", "volume", "amount", "vwap", "factor", "change")


def _bin_name(field: str, freq: str) -> str:
    return f"{field.lower()}.{freq.lower()}.bin"


#: bins up to this size are read whole; larger ones are memory-mapped
_READ_WHOLE_BYTES = 1 << 20


def _read_all(fd: int, size: int) -> bytes:
    """``size`` bytes from the start of ``fd`` (a regular file may return fewer per call)."""
    data = os.pread(fd, size, 0)
    while len(data) < size:
        more = os.pread(fd, size - len(data), len(data))
        if not more:
            raise DataError(f"a Qlib bin shrank while it was read ({len(data)} of {size} bytes)")
        data += more
    return data


def read_bin(path: str | Path, calendar_length: int) -> tuple[int, np.ndarray]:
    """(start index, float32 values) of one feature bin, validated against the calendar length.

    Raises `DataError` naming the file for every way a bin can be corrupt: a byte length that is not a
    multiple of 4, no values, a start index that is negative, non-integral or past the calendar, or values
    running beyond the calendar's end.
    """
    fd = os.open(path, os.O_RDONLY)  # FileNotFoundError passes through: callers decide what a missing bin means
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            raise DataError(f"Qlib bin {path} is empty (0 bytes); re-dump this field")
        if size % 4:
            raise DataError(f"Qlib bin {path} is corrupt: {size} bytes is not a multiple of 4 (truncated write?)")
        # A daily bin (24 KiB for 24 years) is read whole: one read costs a third of mapping it and faulting
        # its pages in. A large (minute) bin is mapped, so a short window of a long history touches a few pages.
        if size <= _READ_WHOLE_BYTES:
            raw = np.frombuffer(_read_all(fd, size), dtype="<f4")
        else:
            raw = np.frombuffer(mmap.mmap(fd, 0, access=mmap.ACCESS_READ), dtype="<f4")
    finally:
        os.close(fd)
    head = float(raw[0])
    if len(raw) == 1:
        raise DataError(f"Qlib bin {path} holds a start index but no values; re-dump this field")
    if not np.isfinite(head) or head != int(head):
        raise DataError(f"Qlib bin {path} is corrupt: start index {head!r} is not an integer")
    start = int(head)
    if start < 0:
        raise DataError(f"Qlib bin {path} is corrupt: start index {start} is negative")
    if start >= calendar_length:
        raise DataError(
            f"Qlib bin {path} is corrupt: start index {start} is past the calendar ({calendar_length} sessions)"
        )
    if start + len(raw) - 1 > calendar_length:
        raise DataError(
            f"Qlib bin {path} is corrupt: {len(raw) - 1} values from index {start} run past the calendar "
            f"({calendar_length} sessions); the calendar file and the bins disagree"
        )
    return start, raw[1:]


def _rows_in(pos: np.ndarray, ascending: bool, lo: int, hi: int) -> slice | np.ndarray:
    """The rows whose calendar position ``pos`` lies in [lo, hi): a slice when ``pos`` ascends (every window
    `DataService` asks for; a slice writes a column several times faster than a mask), else their indices."""
    if ascending:
        first, end = np.searchsorted(pos, (lo, hi))
        return slice(int(first), int(end))
    return np.flatnonzero((pos >= lo) & (pos < hi))


class QlibBinProvider(BarProvider):
    """A Qlib data directory (``provider_uri``) as a provider; native view "qlib" (price × factor)."""

    native_adjust = "qlib"

    def __init__(self, provider_uri: str | Path, freq: str = "day") -> None:
        self.root = Path(provider_uri).expanduser()
        self.freq = freq
        self.name = f"qlib:{self.root}"
        if not (self.root / "features").is_dir():
            raise DataError(
                f"{self.root} is not a Qlib data directory (no features/ folder); point provider_uri at the "
                f"folder holding calendars/, instruments/ and features/"
            )
        self._calendar = qlib_calendar(self.root, freq)
        self._spans: dict[str, pd.DataFrame] = {}
        self._fields: tuple[str, ...] | None = None

    @property
    def calendar(self) -> TradingCalendar:
        return self._calendar

    def markets(self) -> list[str]:
        folder = self.root / "instruments"
        return sorted(p.stem for p in folder.glob("*.txt")) if folder.is_dir() else []

    def instrument_spans(self, market: str = "all") -> pd.DataFrame:
        if market not in self._spans:
            self._spans[market] = self._read_spans(market)
        return self._spans[market]

    def _read_spans(self, market: str) -> pd.DataFrame:
        path = self.root / "instruments" / f"{market.lower()}.txt"
        if not path.is_file():
            raise DataError(
                f"unknown market {market!r} in {self.name}: {path} does not exist; known: "
                f"{', '.join(self.markets()) or 'none (instruments/ is empty or missing)'}"
            )
        try:
            raw = pd.read_csv(path, sep="\t", header=None, usecols=[0, 1, 2], names=list(SPAN_COLUMNS), dtype=str)
            spans = pd.DataFrame({
                "instrument": to_internal_many(raw["instrument"].str.strip()),
                "start": pd.to_datetime(raw["start"].str.strip(), format="ISO8601"),
                "end": pd.to_datetime(raw["end"].str.strip(), format="ISO8601"),
            })
        except (ValueError, InstrumentError, pd.errors.ParserError) as exc:
            raise DataError(
                f"cannot parse Qlib instruments file {path}: {exc}; expected lines like "
                f"'SH600000<TAB>2008-01-02<TAB>2020-12-31'"
            ) from exc
        bad = spans["start"] > spans["end"]
        if bad.any():
            row = spans[bad].iloc[0]
            raise DataError(f"Qlib instruments file {path}: span of {row['instrument']} starts after it ends")
        return spans

    def fields(self) -> tuple[str, ...]:
        """Every field some instrument has a bin for (scanned once)."""
        if self._fields is None:
            suffix = f".{self.freq.lower()}.bin"
            names: set[str] = set()
            with os.scandir(self.root / "features") as dirs:
                for entry in dirs:
                    if entry.is_dir():
                        names.update(f[: -len(suffix)] for f in os.listdir(entry.path) if f.endswith(suffix))
            self._fields = tuple(sorted(names))
        return self._fields

    def load(self, instruments: Sequence[str], dates: pd.DatetimeIndex, fields: Sequence[str]) -> Panel:
        dates = pd.DatetimeIndex(dates, name="datetime")
        codes = pd.Index(list(instruments), name="instrument")
        pos = self._calendar.sessions.get_indexer(dates)
        if (pos < 0).any():
            raise DataError(
                f"{pd.Timestamp(dates[pos < 0][0]):%Y-%m-%d} is not a session of {self.name}'s calendar"
            )
        ascending = bool((pos[1:] > pos[:-1]).all())
        # consecutive sessions (every window `DataService` asks for): a bin's rows are one slice of it
        consecutive = ascending and len(pos) > 0 and pos[-1] - pos[0] == len(pos) - 1
        # filled one instrument per contiguous row, then transposed once into the panel's (dates × codes)
        columns = {f: np.full((len(codes), len(dates)), np.nan, dtype=np.float32) for f in fields}
        present = np.zeros((len(codes), len(dates)), dtype=bool)
        n_cal = len(self._calendar)
        features = str(self.root / "features")
        bins = [_bin_name(f, self.freq) for f in fields]
        for j, code in enumerate(codes):
            folder = os.path.join(features, to_qlib(code).lower())
            for field, bin_name in zip(fields, bins, strict=True):
                try:
                    start, data = read_bin(os.path.join(folder, bin_name), n_cal)
                except FileNotFoundError:
                    continue  # Qlib reads a missing bin as an empty series: NaN, no rows of its own
                rows = _rows_in(pos, ascending, start, start + len(data))
                if consecutive:
                    lo = pos[0] + rows.start - start
                    columns[field][j, rows] = data[lo:lo + rows.stop - rows.start]
                else:
                    columns[field][j, rows] = data[pos[rows] - start]
                present[j, rows] = True
        values = {f: np.ascontiguousarray(a.T) for f, a in columns.items()}
        covered = np.ascontiguousarray(present.T)
        panel = Panel(dates=dates, instruments=codes, values=values, listed=covered)
        check_panel(panel, self.name)  # OHLC consistency, volume ≥ 0, ... named by instrument and date
        return panel


def write_qlib_dir(
    service: DataService,
    out_dir: str | Path,
    *,
    start=None,
    end=None,
    markets: Sequence[str] = ("all", "csi300"),
    fields: Sequence[str] | None = None,
    force: bool = False,
) -> Path:
    """Dump ``service``'s provider as a Qlib data directory (qlib view, float32) and return its path.

    Every instrument of every provider market is exported (indexes included). Instruments files are written
    for ``markets`` plus any other provider market holding codes none of them lists (e.g. the synthetic
    "index" market), so every exported code stays addressable in the directory. Spans are clipped to the
    window. Built in a temporary folder beside ``out_dir`` and renamed into place, so a reader never sees
    a half-written directory and an existing ``out_dir`` is replaced only once the new one is complete.
    """
    out = Path(out_dir).expanduser().resolve()
    provider = service.provider
    names = list(fields) if fields is not None else [f for f in QLIB_EXPORT_FIELDS if f in provider.fields()]
    missing = [f for f in names if f not in provider.fields()]
    if missing:
        raise DataError(f"cannot export field(s) {missing}: {provider.name} has {list(provider.fields())}")
    unknown = [m for m in markets if m not in provider.markets()]
    if unknown:
        raise DataError(f"cannot export market(s) {unknown}: {provider.name} knows {provider.markets()}")
    dates = service.resolve_dates(start=start, end=end)
    first, last = dates[0], dates[-1]
    market_spans = {}
    for market in provider.markets():
        spans = provider.instrument_spans(market).copy()
        spans["start"] = spans["start"].clip(lower=first)
        spans["end"] = spans["end"].clip(upper=last)
        market_spans[market] = spans[spans["start"] <= spans["end"]].sort_values(["instrument", "start"])
    members = {m: set(spans["instrument"]) for m, spans in market_spans.items()}
    covered = set().union(*(members[m] for m in markets))
    to_write = [*markets, *(m for m in market_spans if m not in markets and members[m] - covered)]
    codes = sorted(set().union(*members.values()))
    if not codes:
        raise DataError(f"nothing to export: no instrument of {provider.name} is listed in {first:%F}..{last:%F}")
    panel = service.get_panel(codes, start=first, end=last, fields=names, adjust="qlib", dtype=np.float32)

    with atomic_path(out, force=force) as tmp:  # force: replace a folder aistock did not write
        _write_tree(tmp, panel, {m: market_spans[m] for m in to_write}, names)
    return out


def _write_tree(root: Path, panel: Panel, market_spans: dict[str, pd.DataFrame], fields: Sequence[str]) -> None:
    """Write calendar, instruments files and one bin per (instrument, field) under ``root``."""
    (root / "calendars").mkdir(parents=True)
    (root / "calendars" / "day.txt").write_text("\n".join(panel.dates.strftime("%Y-%m-%d")) + "\n")
    (root / "instruments").mkdir()
    for market, spans in market_spans.items():
        lines = pd.DataFrame({
            "code": [to_qlib(c) for c in spans["instrument"]],
            "start": spans["start"].dt.strftime("%Y-%m-%d"),
            "end": spans["end"].dt.strftime("%Y-%m-%d"),
        })
        lines.to_csv(root / "instruments" / f"{market.lower()}.txt", sep="\t", header=False, index=False)
    listed = panel.listed
    first_row = np.argmax(listed, axis=0)
    last_row = len(panel.dates) - 1 - np.argmax(listed[::-1], axis=0)
    # One (N, F, T) float32 block, NaN outside listed cells, so each bin's values are one contiguous slice.
    block = np.stack([np.where(listed, panel[f], np.nan).astype("<f4") for f in fields]).transpose(2, 0, 1).copy()
    features = root / "features"
    features.mkdir()
    bins = [_bin_name(f, "day") for f in fields]
    # The cost is creating the small files (≈0.3 s for 500 × 9 on tmpfs, seconds on a busy disk); a thread
    # pool did not help on a loaded disk, so this stays a plain loop over instruments.
    for j in np.flatnonzero(listed.any(axis=0)):
        lo, hi = int(first_row[j]), int(last_row[j]) + 1
        folder = features / to_qlib(panel.instruments[j]).lower()
        folder.mkdir()
        header = np.array([lo], dtype="<f4").tobytes()
        for k, name in enumerate(bins):
            with open(folder / name, "wb") as fh:
                fh.write(header + block[j, k, lo:hi].tobytes())

"""RD-Agent's ``daily_pv.h5`` (rdagent.md §8): read it as a provider, and write one for RD-Agent's factor code.

The file: HDF key ``"data"``, ``format="fixed"``, ``MultiIndex(datetime, instrument)`` with ts_code
instruments (``600000.SH``), sorted; float32 columns ``open high low close volume amount factor`` (bare
names; older exports prefix ``$``). Prices are forward-adjusted to the export window's last day (qfq),
volume is divided by the factor, amount is not adjusted.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from aistock_core.data.panel import Panel
from aistock_core.data.service import DataService, Universe
from aistock_core.data.store import HDF5_MAGIC, atomic_path
from aistock_core.data.tabular import REQUIRED_FIELDS, FrameProvider
from aistock_core.errors import DataError

H5_KEY = "data"
#: Columns RD-Agent's factor prompt promises factor code, in this order.
DAILY_PV_FIELDS = ("open", "high", "low", "close", "volume", "amount", "factor")


class DailyPVProvider(FrameProvider):
    """A ``daily_pv.h5`` as a provider (native view "qfq"; calendar XSHG; spans from each code's rows).

    The raw and qlib views need ``factor``; a file without it still serves the qfq view.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise DataError(f"daily_pv file {self.path} does not exist")
        try:
            frame = pd.read_hdf(self.path, key=H5_KEY)
        except KeyError as exc:
            raise DataError(f"daily_pv file {self.path} has no key {H5_KEY!r}; RD-Agent writes key 'data'") from exc
        except (OSError, ValueError, TypeError, RuntimeError) as exc:  # tables.HDF5ExtError is a RuntimeError
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise DataError(f"cannot read daily_pv file {self.path} as HDF5: {reason}") from exc
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"daily_pv file {self.path} key {H5_KEY!r} holds a {type(frame).__name__}, not a frame")
        names = {str(c).strip().lstrip("$").lower() for c in frame.columns}
        missing = [c for c in REQUIRED_FIELDS if c not in names]
        if missing:
            raise DataError(
                f"daily_pv file {self.path} lacks required column(s) {missing}; found {list(frame.columns)}"
            )
        super().__init__(frame, name=f"h5:{self.path}", native_adjust="qfq", require_factor=True)

    def load(self, instruments: Sequence[str], dates: pd.DatetimeIndex, fields: Sequence[str]) -> Panel:
        if "factor" in fields and "factor" not in self.fields():
            raise DataError(
                f"daily_pv file {self.path} has no 'factor' column (columns: {list(self.fields())}); the raw "
                f"and qlib views need it: use adjust='qfq' or export the file with factor"
            )
        return super().load(instruments, dates, fields)


def write_daily_pv(
    service: DataService, universe: Universe, path: str | Path, *, start=None, end=None
) -> Path:
    """Write what RD-Agent's factor code reads: qfq view, float32, bare columns `DAILY_PV_FIELDS`, key "data",
    format "fixed", sorted index. Written to a temporary file beside ``path`` and renamed into place."""
    out = Path(path).expanduser().resolve()
    fields = [f for f in DAILY_PV_FIELDS if f in service.provider.fields()]
    missing = [f for f in DAILY_PV_FIELDS if f not in fields and f != "amount"]
    if missing:
        raise DataError(f"cannot write daily_pv from {service.provider.name}: it lacks {missing}")
    frame = service.get_history_window(universe, start=start, end=end, fields=fields, adjust="qfq")
    frame = frame.astype(np.float32).sort_index()
    with atomic_path(out, magic=HDF5_MAGIC) as tmp:
        frame.to_hdf(tmp, key=H5_KEY, mode="w", format="fixed")
    return out

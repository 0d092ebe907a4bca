"""The corporate-actions table a data source may come with: ex-date, cash dividend per share, bonus and transfer
shares per share (CSV or Parquet; xtquant's dividend data exported to the same columns).

Columns: ``instrument`` (any spelling `to_internal` accepts), ``ex_date``, and any of ``cash`` (yuan per share,
before tax), ``bonus`` (bonus shares per share), ``transfer`` (shares from the capital reserve per share); a
missing amount column means zero. Published ratios "10 送 3 转 2 派 1.5" are ``bonus 0.3, transfer 0.2,
cash 0.15``. The view (`DataService.corporate_actions`) indexes rows by (datetime, instrument) with
``cash`` and ``bonus`` (= bonus + transfer) per share. Rights issues are not supported.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from aistock_core.codes import to_internal_many
from aistock_core.errors import DataError
from aistock_core.trading.corporate_actions import ACTION_COLUMNS

_AMOUNTS = ("cash", "bonus", "transfer")


def actions_frame(table: pd.DataFrame, where: str = "corporate-actions table") -> pd.DataFrame:
    """Validate a raw table and bring it to the view's shape: index (datetime, instrument), `ACTION_COLUMNS`."""
    missing = [c for c in ("instrument", "ex_date") if c not in table.columns]
    if missing:
        raise DataError(f"{where} lacks column(s) {missing}; expected instrument, ex_date and cash/bonus/transfer")
    if not any(c in table.columns for c in _AMOUNTS):
        raise DataError(f"{where} has none of the amount columns {list(_AMOUNTS)}")
    amounts = {c: pd.to_numeric(table[c], errors="coerce").fillna(0.0).to_numpy(np.float64) if c in table
               else np.zeros(len(table)) for c in _AMOUNTS}
    bad = ~np.isfinite(amounts["cash"]) | (amounts["cash"] < 0) | (amounts["bonus"] < 0) | (amounts["transfer"] < 0)
    if bad.any():
        row = table.iloc[int(np.flatnonzero(bad)[0])].to_dict()
        raise DataError(f"{where}: amounts must be finite and non-negative, got {row}; fix the row")
    dates = pd.to_datetime(table["ex_date"], errors="coerce")
    if dates.isna().any():
        raise DataError(f"{where}: unparsable ex_date {table['ex_date'][dates.isna()].iloc[0]!r}; use YYYY-MM-DD")
    index = pd.MultiIndex.from_arrays(
        [pd.DatetimeIndex(dates).normalize(), pd.Index(to_internal_many(table["instrument"].astype(str)))],
        names=["datetime", "instrument"],
    )
    frame = pd.DataFrame({"cash": amounts["cash"], "bonus": amounts["bonus"] + amounts["transfer"]}, index=index)
    if frame.index.duplicated().any():
        dup = frame.index[frame.index.duplicated()][0]
        raise DataError(f"{where}: two rows for {dup[1]} on {dup[0]:%Y-%m-%d}; merge them into one")
    return frame[list(ACTION_COLUMNS)].sort_index()


def read_actions_table(path: Path) -> pd.DataFrame:
    """Read and validate a CSV/Parquet corporate-actions table (see module doc)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"corporate-actions table {path} does not exist; fix AISTOCK_CORPORATE_ACTIONS")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        table = pd.read_csv(path, dtype={"instrument": str})
    elif suffix in (".parquet", ".pq"):
        table = pd.read_parquet(path)
    else:
        raise DataError(f"corporate-actions table {path} must be .csv or .parquet")
    return actions_frame(table, where=str(path))

"""Price-adjustment views over a native panel (``qlib``, ``qfq`` or raw; see `fields`).

All adjusted views are ``price = raw × f_view`` and ``volume = raw_volume / f_view`` where ``f_view`` is the
cumulative factor ("qlib") or the factor normalised to each instrument's last known value in the window
("qfq", what RD-Agent's daily_pv.h5 holds). ``amount`` is never adjusted.
"""

from __future__ import annotations

import numpy as np

from aistock_core.data.fields import Adjust
from aistock_core.data.panel import Panel
from aistock_core.errors import DataError

#: Fields scaled like prices (limit prices included: they are prices of the same day).
PRICE_LIKE = ("open", "high", "low", "close", "vwap", "limit_up", "limit_down")


def _last_valid(arr: np.ndarray) -> np.ndarray:
    """Per column, the last non-NaN value (NaN where the column is all NaN)."""
    valid = ~np.isnan(arr)
    last_row = arr.shape[0] - 1 - np.argmax(valid[::-1], axis=0)
    out = arr[last_row, np.arange(arr.shape[1])]
    out[~valid.any(axis=0)] = np.nan
    return out


def view_factor(factor: np.ndarray, adjust: Adjust) -> np.ndarray:
    """The factor the view multiplies raw prices by."""
    if adjust == "qlib":
        return factor
    if adjust == "qfq":
        with np.errstate(invalid="ignore", divide="ignore"):
            return factor / _last_valid(factor)[None, :]
    if adjust is None:
        return np.ones_like(factor)
    raise DataError(f"unknown adjust {adjust!r}; use 'qlib', 'qfq' or None")


def convert(panel: Panel, native: Adjust, target: Adjust, dtype: np.dtype | type | None = None) -> Panel:
    """Re-express a native panel in the ``target`` view. Same view: values returned untouched.

    ``panel`` must hold ``factor`` whenever the views differ (raw needs it to undo, views need it to apply).
    """
    # qfq → qfq still re-anchors when the panel holds the factor: a stored qfq file (daily_pv.h5) is anchored
    # to its export's last day, a qfq view to the requested window's last day.
    if native == target and not (native == "qfq" and "factor" in panel.values):
        values = dict(panel.values)
    else:
        if "factor" not in panel.values:
            raise DataError("converting between adjustment views needs the 'factor' field")
        factor = panel.values["factor"].astype(np.float64)
        # The native factor is the stored one as-is: stored prices were multiplied by exactly it (a qfq
        # file's factor is already normalised to its export's anchor; re-normalising here would be wrong).
        native_f = factor if native is not None else np.ones_like(factor)
        target_f = view_factor(factor, target)
        with np.errstate(invalid="ignore", divide="ignore"):
            price_ratio = target_f / native_f
        values = {}
        for name, arr in panel.values.items():
            if name in PRICE_LIKE:
                values[name] = arr.astype(np.float64) * price_ratio
            elif name == "volume":
                values[name] = arr.astype(np.float64) / price_ratio
            elif name == "factor":
                values[name] = target_f if target is not None else factor
            else:
                values[name] = arr
    if dtype is not None:
        values = {k: v.astype(dtype, copy=False) if v.dtype.kind == "f" else v for k, v in values.items()}
    return Panel(dates=panel.dates, instruments=panel.instruments, values=values, listed=panel.listed)

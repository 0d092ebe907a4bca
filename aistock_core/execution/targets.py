"""Where an order run's target weights come from when it is not handed a strategy's output.

`load_weights` reads a file a strategy run wrote (CSV ``instrument,weight`` or a JSON mapping). `demo_targets`
is the stand-in used by the demo and by `aistock trade plan/run` without ``--weights``: equal weights on the
``n`` names with the best return over the last ``lookback`` sessions before the trading day (only the past is
read, so it never peeks at the day it trades).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from aistock_core.codes import to_internal_many
from aistock_core.data.service import DataService
from aistock_core.errors import StrategyError


def load_weights(path: Path) -> pd.Series:
    """Weights by instrument from ``path`` (``.json``: a mapping; else CSV with ``instrument, weight``)."""
    try:
        if path.suffix == ".json":
            raw = pd.Series(json.loads(path.read_text()), dtype=float)
        else:
            frame = pd.read_csv(path)
            raw = pd.Series(frame["weight"].to_numpy(float), index=frame["instrument"].astype(str))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StrategyError(f"cannot read target weights {path}: {exc}; give a CSV with columns instrument, weight "
                            f"or a JSON mapping of instrument to weight") from exc
    raw.index = pd.Index(to_internal_many(list(raw.index)), name="instrument")
    if raw.isna().any() or (raw < 0).any():
        raise StrategyError(f"target weights in {path} must be non-negative numbers")
    return raw


def demo_targets(data: DataService, day: pd.Timestamp, universe: list[str], n: int = 10,
                 lookback: int = 20, invested: float = 0.95) -> pd.Series:
    """Equal weights (summing to ``invested``) on the ``n`` best ``lookback``-session returns before ``day``."""
    end = data.calendar.last_session_before(day)
    panel = data.get_panel(universe, end=min(end, data.provider.data_range()[1]), bars=lookback + 1,
                           fields=["close"], adjust="qlib")
    close = panel["close"]
    with np.errstate(invalid="ignore", divide="ignore"):
        ret = close[-1] / close[0] - 1
    ranked = pd.Series(ret, index=panel.instruments).dropna().sort_values(ascending=False, kind="stable")
    top = ranked.index[:n]
    return pd.Series(invested / max(len(top), 1), index=top, name="weight")

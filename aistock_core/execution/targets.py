"""Target weights handed to an order run as a file (``--weights``, the order jobs' ``weights_path``).

`load_weights` reads a file a strategy run wrote (CSV ``instrument,weight`` or a JSON mapping). Without one, an
order run takes its instance's own targets (`aistock_core.strategy.sources.TargetEngine`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from aistock_core.codes import to_internal_many
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

"""Scores when no model exists yet, through the factor engine.

The default signal is 5-day reversal, ``-($close/Ref($close,5)-1)``: the embedded synthetic market is built
with short-term reversal (its docs measure a daily rank IC of about +0.035), and it needs no training, so the
pipelines run end to end before a model is registered.

Every listed cell gets a score, as a research model's prediction does (RD-Agent's handler fills missing
features, so suspended names are still predicted): where the expression has no value — a suspension inside
its 5-day look-back — the score is the day's cross-sectional mean, i.e. neutral. Leaving such holdings
unscored is not harmless: on a day TopkDropout buys nothing, Qlib 0.9.7 orders unscored holdings by
``list(set(...))`` (``Position.get_stock_list``), so which of them it sells follows ``PYTHONHASHSEED`` and
Qlib's own figures change from run to run (measured on the demo: ±30% annualized return).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from aistock_core.data.service import DataService

DEFAULT_SIGNAL = "-($close/Ref($close,5)-1)"


def signal_scores(
    service: DataService, universe: str | list[str], start, end, expression: str = DEFAULT_SIGNAL
) -> pd.Series:
    """Scores of ``expression`` for every listed (session, instrument); a cell without a value gets the day's
    cross-sectional mean (neutral, see the module docstring); days with no value at all are dropped."""
    # imported here: the factor engine loads numba and its kernels (a few tenths of a second), which a backtest
    # of a score file (``aistock backtest``) never uses, though it imports this module for DEFAULT_SIGNAL
    from aistock_core.factors.engine import compute_frame

    frame = compute_frame(service, universe, {"score": expression}, start=start, end=end)
    score = frame["score"].astype(np.float64)
    neutral = score.groupby(level="datetime").transform("mean")
    return score.fillna(neutral).dropna()


"""Scores when no model exists yet, and the label to judge scores by — both through the factor engine.

The default signal is 5-day reversal, ``-($close/Ref($close,5)-1)``: the embedded synthetic market is built
with short-term reversal (its docs measure a daily rank IC of about +0.035), and it needs no training, so the
pipelines run end to end before a model is registered. The label is RD-Agent's
``Ref($close,-2)/Ref($close,-1)-1`` (contract §9): a score dated t earns the t+1 → t+2 close-to-close return.

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
from aistock_core.factors.engine import compute_frame

DEFAULT_SIGNAL = "-($close/Ref($close,5)-1)"
LABEL = "Ref($close, -2)/Ref($close, -1) - 1"


def signal_scores(
    service: DataService, universe: str | list[str], start, end, expression: str = DEFAULT_SIGNAL
) -> pd.Series:
    """Scores of ``expression`` for every listed (session, instrument); a cell without a value gets the day's
    cross-sectional mean (neutral, see the module docstring); days with no value at all are dropped."""
    frame = compute_frame(service, universe, {"score": expression}, start=start, end=end)
    score = frame["score"].astype(np.float64)
    neutral = score.groupby(level="datetime").transform("mean")
    return score.fillna(neutral).dropna()


def rank_ic(scores: pd.Series, service: DataService, universe: str | list[str]) -> pd.Series:
    """Daily Spearman IC of ``scores`` against the label (days where the label is known)."""
    dates = scores.index.get_level_values("datetime")
    label = compute_frame(service, universe, {"label": LABEL}, start=dates.min(), end=dates.max())["label"]
    both = pd.concat([scores.rename("score"), label.astype(np.float64)], axis=1, join="inner").dropna()
    ranked = both.groupby(level="datetime").rank()
    return ranked.groupby(level="datetime").apply(lambda d: d["score"].corr(d["label"])).dropna()

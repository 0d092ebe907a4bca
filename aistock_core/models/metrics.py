"""Signal quality as Qlib's ``SigAnaRecord`` reports it: IC, ICIR, Rank IC, Rank ICIR.

Per trading day, the Pearson (IC) and Spearman (Rank IC) correlation of score and label over the rows where
both are present (what ``Series.corr`` does inside Qlib's ``calc_ic``); ICIR = mean / std (ddof 1) of the
daily values. Computed with per-day sums (``bincount``) instead of a groupby-apply per day.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _daily_corr(day: np.ndarray, x: np.ndarray, y: np.ndarray, days: int) -> np.ndarray:
    n = np.bincount(day, minlength=days).astype(np.float64)
    with np.errstate(all="ignore"):
        mx = np.bincount(day, x, days) / n
        my = np.bincount(day, y, days) / n
        dx, dy = x - mx[day], y - my[day]
        cov = np.bincount(day, dx * dy, days)
        corr = cov / np.sqrt(np.bincount(day, dx * dx, days) * np.bincount(day, dy * dy, days))
    corr[n < 2] = np.nan
    return corr


def daily_ic(score: pd.Series, label: pd.Series) -> pd.DataFrame:
    """Per-day IC and Rank IC (columns ``ic``, ``rank_ic``), indexed by datetime."""
    frame = pd.DataFrame({"score": score, "label": label}).dropna()
    dates = frame.index.get_level_values("datetime")
    codes, uniques = pd.factorize(dates, sort=True)
    ranks = frame.groupby(codes).rank()
    x, y = frame["score"].to_numpy(np.float64), frame["label"].to_numpy(np.float64)
    return pd.DataFrame({
        "ic": _daily_corr(codes, x, y, len(uniques)),
        "rank_ic": _daily_corr(codes, ranks["score"].to_numpy(np.float64), ranks["label"].to_numpy(np.float64),
                               len(uniques)),
    }, index=pd.DatetimeIndex(uniques, name="datetime"))


def signal_metrics(score: pd.Series, label: pd.Series) -> dict[str, float]:
    """Qlib's keys: ``IC``, ``ICIR``, ``Rank IC``, ``Rank ICIR`` (NaN days skipped, as pandas does)."""
    daily = daily_ic(score, label)
    ic, ric = daily["ic"], daily["rank_ic"]
    return {"IC": float(ic.mean()), "ICIR": float(ic.mean() / ic.std()),
            "Rank IC": float(ric.mean()), "Rank ICIR": float(ric.mean() / ric.std())}

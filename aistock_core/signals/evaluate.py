"""Per-signal evaluation: realised return, P&L and a 0–100 score for every executed signal.

Horizon: from the fill to the close of the execution day (what the 18:00 evaluation can see), signed for the
direction, so a sell that avoided a fall earns a positive return:

- ``actual_return = sign × (close / executed_price − 1)``; ``pnl = sign × (close − executed_price) ×
  executed_quantity − fees`` (yuan).
- ``evaluation_score = 100 × (0.5 × hit + 0.3 × accuracy + 0.2 × execution)``, each part in [0, 1]:
  ``hit`` 1 when the realised return is positive (0.5 when exactly 0); ``accuracy = max(0, 1 − |actual −
  expected| / (|expected| + σ))`` — how close the realised return came to the expected one, on the scale of
  the name's daily volatility σ (no expectation: 0.5); ``execution = fill ratio × max(0, 1 − excess / cost)``
  where ``excess`` is the slippage above the research cost assumption ``cost`` (bps; buys pay positive).

Signals that never executed have no score (NULL): they earned nothing and did not cost anything to judge.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Research's one-way cost assumption in bps when the strategy block says nothing (Qlib's open cost 0.0005).
DEFAULT_COST_BPS = 5.0
WEIGHTS = {"hit": 0.5, "accuracy": 0.3, "execution": 0.2}


def evaluate(signals: pd.DataFrame, close: pd.Series, vol: pd.Series, cost_bps: float = DEFAULT_COST_BPS
             ) -> pd.DataFrame:
    """``signal_key, actual_return, pnl, evaluation_score`` for the executed rows of ``signals`` (the
    `SignalStore.frame` columns); ``close``: the execution day's raw close by symbol, ``vol``: daily
    volatility by symbol."""
    done = signals[(signals["state"] == "executed") & signals["executed_price"].notna()]
    if done.empty:
        return pd.DataFrame(columns=["signal_key", "actual_return", "pnl", "evaluation_score"])
    sign = np.where(done["direction"] == "buy", 1.0, -1.0)
    price = done["executed_price"].to_numpy(float)
    qty = done["executed_quantity"].fillna(0.0).to_numpy(float)
    last = close.reindex(done["symbol"]).to_numpy(float)
    actual = sign * (last / price - 1.0)
    pnl = sign * (last - price) * qty - done["fees"].fillna(0.0).to_numpy(float)
    hit = np.where(actual > 0, 1.0, np.where(actual == 0, 0.5, 0.0))
    expected = done["expected_return"].to_numpy(float)
    sigma = np.nan_to_num(vol.reindex(done["symbol"]).to_numpy(float), nan=0.02)
    accuracy = np.where(np.isfinite(expected),
                        np.maximum(0.0, 1.0 - np.abs(actual - expected) / (np.abs(np.nan_to_num(expected)) + sigma)),
                        0.5)
    wanted = done["suggested_quantity"].to_numpy(float)
    fill_ratio = np.clip(np.divide(qty, wanted, out=np.ones_like(qty), where=wanted > 0), 0.0, 1.0)
    excess = np.maximum(np.nan_to_num(done["execution_slippage_bps"].to_numpy(float)) - cost_bps, 0.0)
    execution = fill_ratio * np.maximum(0.0, 1.0 - excess / cost_bps)
    score = 100.0 * (WEIGHTS["hit"] * hit + WEIGHTS["accuracy"] * accuracy + WEIGHTS["execution"] * execution)
    out = pd.DataFrame({"signal_key": done["signal_key"].to_numpy(), "actual_return": actual, "pnl": pnl,
                        "evaluation_score": score})
    return out[np.isfinite(actual)]

"""Patterns in a day's evaluated signals that research should hear about.

- over-confident: executed signals with confidence ≥ `HIGH_CONFIDENCE` whose evaluation score is below
  `POOR_SCORE` or whose realised return is negative;
- high-risk failures: signals with risk score ≥ `HIGH_RISK` that lost money, or whose order failed;
- execution quality: executed signals whose slippage exceeds the research cost assumption (bps).

Each finding lists its signals (symbol, direction, the figures that triggered it); ``patterns`` has one line per
pattern that occurred, with how often, so a report and LiveFeedback can quote it as is.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

HIGH_CONFIDENCE = 0.8
POOR_SCORE = 40.0
HIGH_RISK = 0.8
_LIST_COLUMNS = ["symbol", "direction", "confidence", "risk_score", "expected_return", "actual_return",
                 "execution_slippage_bps", "evaluation_score", "state"]


def _items(frame: pd.DataFrame) -> list[dict[str, Any]]:
    cols = [c for c in _LIST_COLUMNS if c in frame.columns]
    return frame[cols].astype(object).where(frame[cols].notna(), None).to_dict("records")


def find_patterns(signals: pd.DataFrame, cost_bps: float) -> dict[str, Any]:
    """``overconfident``, ``high_risk_failures``, ``slippage_above_assumption`` (lists) and ``patterns``
    (one-line summaries) of ``signals`` (`SignalStore.frame` rows, evaluated)."""
    if signals.empty:
        return {"overconfident": [], "high_risk_failures": [], "slippage_above_assumption": [], "patterns": []}
    executed = signals[signals["state"] == "executed"]
    losing = executed["actual_return"].astype(float) < 0
    confident = executed[executed["confidence"].astype(float) >= HIGH_CONFIDENCE]
    over = confident[(confident["evaluation_score"].astype(float) < POOR_SCORE)
                     | (confident["actual_return"].astype(float) < 0)]
    risky = signals[signals["risk_score"].astype(float) >= HIGH_RISK]
    risky_failed = risky[(risky["state"] == "failed")
                         | ((risky["state"] == "executed") & (risky["actual_return"].astype(float) < 0))]
    slipped = executed[executed["execution_slippage_bps"].astype(float) > cost_bps]
    lines = []
    if len(over):
        lines.append(f"over-confident: {len(over)} of {len(confident)} high-confidence (≥ {HIGH_CONFIDENCE:.0%}) "
                     f"signals scored below {POOR_SCORE:.0f} or lost money")
    if len(risky_failed):
        lines.append(f"high-risk failures: {len(risky_failed)} of {len(risky)} high-risk (≥ {HIGH_RISK:.0%} "
                     f"volatility percentile) signals lost money or failed")
    if len(slipped):
        lines.append(f"execution quality: {len(slipped)} of {len(executed)} fills slipped more than the research "
                     f"cost assumption of {cost_bps:g} bps (mean "
                     f"{slipped['execution_slippage_bps'].astype(float).mean():.1f} bps)")
    if len(executed) and losing.mean() > 0.6:
        lines.append(f"losing day: {int(losing.sum())} of {len(executed)} executed signals lost money")
    return {"overconfident": _items(over), "high_risk_failures": _items(risky_failed),
            "slippage_above_assumption": _items(slipped), "patterns": lines}

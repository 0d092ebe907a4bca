"""Patterns in evaluated signals and the live-vs-expectation verdict, on hand-made inputs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from aistock_core.feedback.divergence import divergence, replay_returns
from aistock_core.feedback.patterns import find_patterns


def _signals() -> pd.DataFrame:
    return pd.DataFrame({
        "symbol": ["A", "B", "C", "D", "E"], "direction": ["buy"] * 5,
        "state": ["executed", "executed", "executed", "failed", "executed"],
        "confidence": [0.9, 0.95, 0.5, 0.2, 0.85], "risk_score": [0.1, 0.9, 0.85, 0.95, 0.2],
        "expected_return": [0.01] * 5, "actual_return": [-0.01, 0.02, -0.03, None, 0.01],
        "execution_slippage_bps": [1.0, 12.0, 3.0, None, 6.0], "evaluation_score": [20.0, 80.0, 10.0, None, 35.0]})


def test_patterns_pick_the_signals_that_match():
    found = find_patterns(_signals(), cost_bps=5.0)
    assert [s["symbol"] for s in found["overconfident"]] == ["A", "E"]  # A lost money, E scored 35 < 40
    assert [s["symbol"] for s in found["high_risk_failures"]] == ["C", "D"]  # C lost money, D failed
    assert [s["symbol"] for s in found["slippage_above_assumption"]] == ["B", "E"]
    assert found["patterns"][0].startswith("over-confident: 2 of 3 high-confidence")
    assert "high-risk failures: 2 of 3" in found["patterns"][1]
    assert "2 of 4 fills slipped more than the research cost assumption of 5 bps (mean 9.0 bps)" in found["patterns"][2]


def test_no_signals_no_patterns():
    assert find_patterns(_signals().iloc[:0], 5.0)["patterns"] == []


def _perf(days, live):
    nav = (1 + live).cumprod()
    return {"sessions": len(days), "total_return": float(nav.iloc[-1] - 1),
            "volatility": float(live.std(ddof=1) * math.sqrt(238)), "excess_return": float(nav.iloc[-1] - 1) - 0.01}


def test_replay_tracking_error_and_verdict(tmp_path):
    days = pd.bdate_range("2024-03-01", periods=5)
    live = pd.Series([0.01, -0.02, 0.005, 0.0, 0.01], index=days)
    replay = pd.Series([0.012, -0.018, 0.004, 0.001, 0.011], index=days)
    report = pd.DataFrame({"return": replay + 0.001, "cost": 0.001, "bench": 0.0}, index=days)
    report.to_parquet(tmp_path / "report.parquet")
    got = divergence(_perf(days, live), live, replay_returns(tmp_path / "report.parquet"), None)
    assert got["source"] == "backtest replay"
    assert got["expected_return"] == pytest.approx(float(np.prod(1 + replay) - 1))
    assert got["tracking_error"] == pytest.approx(float(np.std(live - replay, ddof=1) * math.sqrt(238)))
    assert got["divergence"].startswith("in line: live return")
    # a replay that earned 10% more on the same days: live is short by far more than one sigma
    ahead = divergence(_perf(days, live), live, replay + 0.02, None)
    assert ahead["divergence"].startswith("diverging:") and "short by more than 1σ" in ahead["divergence"]


def test_loop_kpis_are_excess_in_sum_mode_and_missing_expectation_says_so():
    days = pd.bdate_range("2024-03-01", periods=10)
    live = pd.Series(0.001, index=days)
    got = divergence(_perf(days, live), live, None, {"annualized_return": 0.238, "information_ratio": 1.5,
                                                      "max_drawdown": -0.08})
    assert got["source"] == "loop KPIs" and got["expected_return"] == pytest.approx(0.238 * 10 / 238)
    assert (got["expected_sharpe"], got["expected_max_drawdown"], got["tracking_error"]) == (1.5, -0.08, None)
    assert "live excess return" in got["divergence"]
    none = divergence(_perf(days, live), live, None, None)
    assert none["source"] is None and none["divergence"].startswith("no expectation")
    # a replay that does not cover every live session is not used
    partial = divergence(_perf(days, live), live, pd.Series(0.001, index=days[:5]), None)
    assert partial["source"] is None

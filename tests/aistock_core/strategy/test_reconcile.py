"""Reconciliation: qlib_res.csv parsing (keys with stray spaces, legacy rows), deviation table, verdict."""

from __future__ import annotations

import pandas as pd
import pytest

from aistock_core.errors import CatalogError, StrategyError
from aistock_core.strategy.reconcile import QLIB_KEYS, input_mismatches, read_qlib_res, reconcile

OURS = {key: 0.01 * (i + 1) * (-1 if key.endswith("max_drawdown") else 1) for i, key in enumerate(QLIB_KEYS)}


def test_read_qlib_res_strips_keys(tmp_path):
    path = tmp_path / "qlib_res.csv"
    pd.Series({"IC": 0.031, "1day.excess_return_with_cost.max_drawdown ": -0.12}).to_csv(path)
    assert read_qlib_res(path) == {"IC": 0.031, "1day.excess_return_with_cost.max_drawdown": -0.12}
    with pytest.raises(CatalogError, match="not found"):
        read_qlib_res(tmp_path / "missing.csv")


def test_exact_replay_passes_and_a_sign_flip_fails():
    assert reconcile(OURS, dict(OURS)).passed
    flipped = dict(OURS)
    key = "1day.excess_return_with_cost.max_drawdown"
    flipped[key] = -OURS[key]  # a recorder that stored |MDD| must not pass
    result = reconcile(OURS, flipped)
    assert not result.passed and list(result.failures().index) == [key]
    assert "❌" in result.to_markdown()


def test_tolerances_per_metric_and_missing_keys():
    recorded = {k: v * (1 + 1e-4) for k, v in OURS.items()}
    assert not reconcile(OURS, recorded).passed
    assert reconcile(OURS, recorded, {"annualized_return": (1e-3, 0), "mean": (1e-3, 0), "std": (1e-3, 0),
                                      "information_ratio": (1e-3, 0), "max_drawdown": (1e-3, 0)}).passed
    partial = {k: OURS[k] for k in QLIB_KEYS[:3]}
    assert len(reconcile(OURS, partial).table) == 3
    with pytest.raises(StrategyError, match="nothing to reconcile"):
        reconcile(OURS, {"IC": 0.1})


REFERENCE = {"start_time": "2025-01-02", "end_time": "2025-06-30", "universe": "all",
             "signal": "-($close/Ref($close,5)-1)",
             "strategy": {"class": "TopkDropoutStrategy", "kwargs": {"signal": "<PRED>", "topk": 50, "n_drop": 5}},
             "backtest": {"account": 100000000, "benchmark": "SH000300", "exchange_kwargs": {"open_cost": 0.0005}}}


def test_input_mismatches_name_what_differs():
    replay = {"window": ["2025-01-02", "2025-06-30"], "universe": "all", "signal": REFERENCE["signal"],
              "strategy": {"class": "TopkDropoutStrategy", "kwargs": {"topk": 50, "n_drop": 5}},
              "backtest": {"account": 1e8, "benchmark": "000300.SH", "exchange_kwargs": {"open_cost": 0.0005}}}
    assert input_mismatches(REFERENCE, replay) == []  # "<PRED>" and code spellings are not differences
    other = {**replay, "window": ["2025-01-03", "2025-06-30"], "backtest": {**replay["backtest"], "account": 5e6},
             "strategy": {"class": "TopkDropoutStrategy", "kwargs": {"topk": 50, "n_drop": 3}}}
    found = input_mismatches(REFERENCE, other)
    assert [m.split(":")[0] for m in found] == ["window", "strategy", "backtest"]
    assert "2025-01-03" in found[0]

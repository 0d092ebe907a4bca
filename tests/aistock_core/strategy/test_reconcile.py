"""Reconciliation: qlib_res.csv parsing (keys with stray spaces, legacy rows), deviation table, verdict."""

from __future__ import annotations

import pandas as pd
import pytest

from aistock_core.errors import CatalogError, StrategyError
from aistock_core.strategy.reconcile import QLIB_KEYS, read_qlib_res, reconcile

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

"""Target diffs → signals on a hand-made book, each figure recomputed here from its documented formula."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from aistock_core.signals.evaluate import evaluate
from aistock_core.signals.generate import MarketView, generate, validation

DAY = pd.Timestamp("2024-04-02")


def _market():
    close = pd.Series({"600000.SH": 10.0, "600001.SH": 20.0, "600002.SH": 5.0, "688001.SH": 50.0})
    vol = pd.Series({"600000.SH": 0.01, "600001.SH": 0.02, "600002.SH": 0.03, "688001.SH": 0.04})
    last = pd.Series({"600000.SH": 0.01, "600001.SH": -0.01, "600002.SH": 0.03, "688001.SH": -0.03})
    return MarketView(close, vol, last)


def test_signals_follow_their_formulas():
    held = pd.Series({"600000.SH": 10_000.0, "600001.SH": 2_550.0})  # 100k + 51k of a 251k account
    cash = 100_000.0
    targets = pd.Series({"600000.SH": 0.45, "600002.SH": 0.30, "688001.SH": 0.001})
    scores = pd.Series({"600000.SH": 1.0, "600001.SH": -1.0, "600002.SH": 2.0, "688001.SH": 0.0})
    frame = generate("preview-1", "preview", DAY, "09:35", targets, held, cash, scores, _market(), ic=0.1)
    got = frame.set_index("symbol")
    value = 251_000.0
    # 688001: target 0.001 of the account is below the noise threshold and not held: no signal
    assert set(got.index) == {"600000.SH", "600001.SH", "600002.SH"}
    assert got.loc["600001.SH", ["direction", "signal_type"]].tolist() == ["sell", "exit"]
    assert got.loc["600002.SH", ["direction", "signal_type"]].tolist() == ["buy", "entry"]
    assert got.loc["600000.SH", ["direction", "signal_type"]].tolist() == ["buy", "increase"]
    assert got.loc["600000.SH", "strength"] == pytest.approx(0.45 - 100_000 / value)
    # buy 0.30 × 251k / 5 = 15060 shares → 15000 in lots; the exit sells the whole holding
    assert got.loc["600002.SH", "suggested_quantity"] == 15_000
    assert got.loc["600001.SH", "suggested_quantity"] == 2_550
    # z of 2.0 among (1, -1, 2, 0): mean 0.5, sample std √(5/3); dispersion = sample std of last returns
    z = (2.0 - 0.5) / math.sqrt(5 / 3)
    disp = float(np.std([0.01, -0.01, 0.03, -0.03], ddof=1))
    assert got.loc["600002.SH", "expected_return"] == pytest.approx(0.1 * disp * z)
    z_sell = (-1.0 - 0.5) / math.sqrt(5 / 3)
    assert got.loc["600001.SH", "expected_return"] == pytest.approx(-0.1 * disp * z_sell)  # a sell earns the fall
    assert got.loc["600002.SH", "confidence"] == 1.0 and got.loc["600001.SH", "confidence"] == 0.75
    assert got.loc["600002.SH", "risk_score"] == 0.75  # 3rd of 4 volatilities
    assert got.loc["600002.SH", "stop_loss"] == pytest.approx(5.0 * (1 - 2 * 0.03))
    assert got.loc["600001.SH", "take_profit"] == pytest.approx(20.0 * (1 - 3 * 0.02))


def test_validation_names_the_failed_check():
    frame = pd.DataFrame({"suggested_price": [10.0, np.nan, 10.0], "suggested_quantity": [100.0, 100.0, 0.0]})
    assert validation(frame, True).tolist() == ["", "no price (suspended or not listed)", "size rounds to zero lots"]
    assert set(validation(frame, False)) == {"instance is not running"}


def test_evaluation_score_follows_its_formula():
    signals = pd.DataFrame({
        "signal_key": ["a", "b", "c"], "symbol": ["X", "Y", "Z"], "direction": ["buy", "sell", "buy"],
        "state": ["executed", "executed", "rejected"], "executed_price": [10.0, 20.0, None],
        "executed_quantity": [100.0, 50.0, None], "suggested_quantity": [200.0, 50.0, 100.0],
        "fees": [5.0, 5.0, None], "expected_return": [0.01, 0.02, 0.01],
        "execution_slippage_bps": [2.0, 7.5, None]})
    out = evaluate(signals, pd.Series({"X": 10.2, "Y": 19.0, "Z": 1.0}), pd.Series({"X": 0.02, "Y": 0.01}),
                   cost_bps=5.0).set_index("signal_key")
    assert list(out.index) == ["a", "b"]  # never executed: no score
    # a: +2%, expected 1%: accuracy 1 − 0.01 / (0.01 + 0.02); half filled, slippage within the cost
    assert out.loc["a", "actual_return"] == pytest.approx(0.02)
    assert out.loc["a", "pnl"] == pytest.approx(0.2 * 100 - 5)
    assert out.loc["a", "evaluation_score"] == pytest.approx(100 * (0.5 + 0.3 * (1 - 0.01 / 0.03) + 0.2 * 0.5))
    # b: a sell before a 5% fall earns +5%; slippage 2.5 bps over the 5 bps assumption costs half the execution
    assert out.loc["b", "actual_return"] == pytest.approx(0.05)
    assert out.loc["b", "evaluation_score"] == pytest.approx(
        100 * (0.5 + 0.3 * max(0, 1 - 0.03 / 0.03) + 0.2 * 0.5))

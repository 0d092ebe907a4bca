"""Qlib mode against Qlib 0.9.7 itself: same holdings every day, report and risk analysis within 1e-9.

Qlib runs once per module in a subprocess (``qlib.init`` is global state) on a hand-built Qlib directory with
late listings, delistings, suspensions, limit days and factor steps (see conftest.py).
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from aistock_core.codes import to_internal_many
from aistock_core.data.qlib_bin import QlibBinProvider
from aistock_core.data.service import DataService
from aistock_core.strategy.backtest.engine import run_backtest
from aistock_core.strategy.backtest.market import load_market
from aistock_core.strategy.backtest.qlib_mode import QlibExchangeConfig
from aistock_core.strategy.topk import TopkDropoutStrategy

pytestmark = [
    pytest.mark.qlib,
]

START, END = "2020-01-10", "2020-08-20"
EXCHANGE = {"limit_threshold": 0.095, "deal_price": "close", "open_cost": 0.0005, "close_cost": 0.0015, "min_cost": 5}
CASES = {
    "topk8_drop3": {"topk": 8, "n_drop": 3},
    "topk5_drop1_hold3": {"topk": 5, "n_drop": 1, "hold_thresh": 3},
    "tradable_only_sell_at_limit": {"topk": 6, "n_drop": 2, "only_tradable": True,
                                    "forbid_all_trade_at_limit": False, "risk_degree": 0.9},
}
ACCOUNT = 5e6
RTOL = 1e-9


@pytest.fixture(scope="module", params=sorted(CASES))
def pair(request, qlib_dir, scores_of, tmp_path_factory):
    """(our result, Qlib's report, Qlib's positions, Qlib's risk) for one strategy case."""
    root, meta = qlib_dir
    kwargs = CASES[request.param]
    work = tmp_path_factory.mktemp(request.param)
    scores = scores_of(meta)
    scores.to_parquet(work / "scores.parquet")
    spec = {
        "provider_uri": str(root), "score_path": str(work / "scores.parquet"), "out_dir": str(work / "ref"),
        "strategy_kwargs": kwargs, "start": START, "end": END, "benchmark": "SH000300", "account": ACCOUNT,
        "exchange_kwargs": EXCHANGE,
    }
    (work / "spec.json").write_text(json.dumps(spec))
    done = subprocess.run(
        [sys.executable, "-m", "aistock_core.strategy.backtest.qlib_reference", str(work / "spec.json")],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    market = load_market(DataService(QlibBinProvider(root)), "all", START, END, benchmark="000300.SH")
    ours = run_backtest(
        market, scores, TopkDropoutStrategy(**kwargs), mode="qlib", account=ACCOUNT,
        exchange=QlibExchangeConfig(**EXCHANGE),
    )
    ref_pos = pd.read_parquet(work / "ref" / "positions.parquet")
    ref_pos["instrument"] = to_internal_many(ref_pos["instrument"])
    ref_pos = ref_pos.set_index(["datetime", "instrument"]).sort_index()
    risk = json.loads((work / "ref" / "risk.json").read_text())
    return ours, pd.read_parquet(work / "ref" / "report.parquet"), ref_pos, risk


def test_same_holdings_every_day(pair):
    ours, _, ref_pos, _ = pair
    assert ours.positions.index.equals(ref_pos.index), "held instruments differ on some day"
    np.testing.assert_allclose(ours.positions["amount"], ref_pos["amount"], rtol=RTOL, atol=0)
    np.testing.assert_allclose(ours.positions["price"], ref_pos["price"], rtol=RTOL, atol=0)


def test_report_matches(pair):
    ours, ref, _, _ = pair
    assert ours.report.index.equals(ref.index)
    for col in ("account", "total_turnover", "total_cost", "value", "cash", "bench"):
        np.testing.assert_allclose(ours.report[col], ref[col], rtol=RTOL, atol=0, err_msg=col)
    # Daily rates are differences of large numbers over the account: compare relative to the account's scale.
    for col in ("return", "turnover", "cost"):
        np.testing.assert_allclose(ours.report[col], ref[col], rtol=RTOL, atol=1e-12, err_msg=col)


def test_risk_analysis_matches(pair):
    ours, _, _, risk = pair
    assert risk
    for key, value in risk.items():
        assert ours.risk[key] == pytest.approx(value, rel=RTOL), key


def test_scenario_exercises_the_edges(qlib_dir, scores_of):
    """The parity data must hit the rules compared: limit days, and a holding kept after its delisting."""
    root, meta = qlib_dir
    market = load_market(DataService(QlibBinProvider(root)), "all", START, END, benchmark="000300.SH")
    ours = run_backtest(market, scores_of(meta), TopkDropoutStrategy(**CASES["topk8_drop3"]), account=ACCOUNT,
                        exchange=QlibExchangeConfig(**EXCHANGE))
    last_listed = market.dates[len(market.dates) - 1 - np.argmax(market.listed[::-1], axis=0)]
    pos = ours.positions.reset_index()
    after = pos["datetime"].to_numpy() > last_listed[market.instruments.get_indexer(pos["instrument"])]
    assert after.any(), "no position outlived its listing: the delisting rule was not exercised"
    assert (np.abs(np.nan_to_num(market.change)) >= 0.095).sum() > 10
    assert (market.listed & np.isnan(market.close)).sum() > 10  # suspensions
    assert ours.trade_counts()["sells"] > 50

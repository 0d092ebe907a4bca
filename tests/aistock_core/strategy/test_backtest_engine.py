"""Whole backtests in both modes on the hand-built Qlib directory, the Qlib exchange's two fill paths, outputs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from aistock_core.data.qlib_bin import QlibBinProvider
from aistock_core.data.service import DataService
from aistock_core.data.store import OUTPUT_MARKER
from aistock_core.errors import StrategyError
from aistock_core.strategy.backtest import outputs
from aistock_core.strategy.backtest.ashare_mode import AshareConfig
from aistock_core.strategy.backtest.engine import run_backtest
from aistock_core.strategy.backtest.market import load_market
from aistock_core.strategy.backtest.qlib_mode import QlibExchange, QlibExchangeConfig
from aistock_core.strategy.enhanced import EnhancedTopkDropoutStrategy
from aistock_core.strategy.topk import TopkDropoutStrategy
from aistock_core.strategy.weights import WeightedTopkStrategy
from aistock_core.trading.account import Account

START, END = "2020-01-10", "2020-08-20"


@pytest.fixture(scope="module")
def setup(qlib_dir, scores_of):
    root, meta = qlib_dir
    market = load_market(DataService(QlibBinProvider(root)), "all", START, END, benchmark="000300.SH")
    return market, scores_of(meta)


@pytest.mark.parametrize(
    "strategy",
    [TopkDropoutStrategy(topk=8, n_drop=3), EnhancedTopkDropoutStrategy(topk=8, min_score=0.0),
     WeightedTopkStrategy(topk=8, method="score", max_weight=0.2)],
    ids=["topk", "enhanced", "weighted"],
)
def test_ashare_mode_respects_lots_cash_and_t_plus_one(setup, strategy):
    market, scores = setup
    res = run_backtest(market, scores, strategy, mode="ashare", account=5e6, exchange=AshareConfig())
    assert (res.report["cash"] > -1e-6).all()
    filled = res.trades[res.trades["status"] == "filled"]
    assert len(filled) > 20
    buys = filled[filled["side"] == "buy"]
    star = buys["instrument"].str.startswith("688")
    assert (buys.loc[~star, "amount"] % 100 == 0).all() and (buys.loc[star, "amount"] >= 200).all()
    # T+1: no sale exceeds what was held at the previous close (re-denominated by a factor step on the day).
    sold = filled[filled["side"] == "sell"].groupby(["datetime", "instrument"])["amount"].sum()
    prev_day = dict(zip(market.dates[1:], market.dates[:-1], strict=True))
    start_of_day = res.positions["amount"]
    held_before = [start_of_day.get((prev_day[d], code), 0.0) for d, code in sold.index]
    factor = pd.DataFrame(market.factor, index=market.dates, columns=market.instruments)
    step = [factor.at[d, code] / factor.at[prev_day[d], code] for d, code in sold.index]
    assert (sold.to_numpy() <= np.asarray(held_before) * np.asarray(step) + 1e-6).all()
    bought = buys.set_index(["datetime", "instrument"]).index
    assert len(sold.index.intersection(bought)) == 0
    assert set(res.risk) >= {"1day.excess_return_with_cost.annualized_return", "sharpe", "win_rate"}


def test_qlib_and_ashare_modes_differ_only_by_rules(setup):
    market, scores = setup
    strat = TopkDropoutStrategy(topk=8, n_drop=3)
    q = run_backtest(market, scores, strat, mode="qlib", account=5e6)
    a = run_backtest(market, scores, strat, mode="ashare", account=5e6)
    assert q.report.index.equals(a.report.index)
    assert not np.allclose(q.report["account"], a.report["account"])
    assert (a.trades["reason"] == "delisted_writeoff").any() or (a.trades["reason"] == "delisting").any()


def test_qlib_buy_fast_path_equals_the_order_by_order_path(setup):
    market, _ = setup
    ex = QlibExchange(market, QlibExchangeConfig(open_cost=0.0005, min_cost=5), 1, len(market.dates) - 1)
    t = 5
    idx = np.flatnonzero(ex.tradable(t, "any"))[:6]
    amount = ex.round_buy(t, idx, 30_000 / market.close[t, idx])
    fast, slow = Account.empty(len(market.instruments), 1e6), Account.empty(len(market.instruments), 1e6)
    f1 = ex.buy(fast, t, idx, amount, np.zeros(len(idx), dtype=int))
    f2 = ex._buy_scalar(slow, t, idx, amount, np.zeros(len(idx), dtype=int), np.ones(len(idx), dtype=bool))
    np.testing.assert_array_equal(f1.amount, f2.amount)
    assert fast.cash == slow.cash and fast.total_cost == slow.total_cost
    # Short of cash: Qlib clips the order to cash / (1 + cost) and rounds down to the lot.
    poor = Account.empty(len(market.instruments), 50_000)
    clipped = ex.buy(poor, t, idx[:1], np.array([1e6]), np.zeros(1, dtype=int))
    price, factor = market.close[t, idx[0]], market.factor[t, idx[0]]
    expected = ((50_000 / 1.0005 / price) * factor + 0.1) // 100 * 100 / factor
    assert clipped.amount[0] == pytest.approx(expected) and poor.cash >= 0


def test_write_outputs_all_or_nothing(setup, tmp_path, monkeypatch):
    market, scores = setup
    res = run_backtest(market, scores, TopkDropoutStrategy(topk=5, n_drop=1), account=5e6)
    out = outputs.write_outputs(res, tmp_path / "run", 5e6)
    assert sorted(p.name for p in out.iterdir()) == sorted([*outputs.OUTPUT_FILES, OUTPUT_MARKER])
    assert json.loads((out / "risk.json").read_text())["trade_counts"]["buys"] > 0
    assert (out / "nav.png").read_bytes()[:4] == b"\x89PNG"
    pd.testing.assert_frame_equal(pd.read_parquet(out / "report.parquet"), res.report, check_freq=False)

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(outputs, "write_nav_png", boom)
    with pytest.raises(RuntimeError):
        outputs.write_outputs(res, tmp_path / "second", 5e6)
    assert not (tmp_path / "second").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_bad_inputs_fail_before_simulating(setup):
    market, scores = setup
    with pytest.raises(StrategyError, match="unknown backtest mode"):
        run_backtest(market, scores, TopkDropoutStrategy(topk=5, n_drop=1), mode="paper")
    with pytest.raises(StrategyError, match="account must be positive"):
        run_backtest(market, scores, TopkDropoutStrategy(topk=5, n_drop=1), account=0)

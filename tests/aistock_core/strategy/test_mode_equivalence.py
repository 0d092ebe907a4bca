"""The two backtest modes differ only by the rules that really differ.

On a multi-year synthetic market with ex-rights events (factor steps), zero costs, price limits that never bind
(wide limit fields, Qlib's threshold off), no STAR lots, no delisting in the window, and TopkDropout (which never
sells what it bought the same day, so T+1 never binds), the A-share backtest — real shares, raw prices, the
factor steps credited as bonus shares — must equal the Qlib-mode backtest of the same scores: before corporate
actions were credited, every ex-date cost the A-share account the holding's entitlement.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from aistock_core.codes import Board, board_of
from aistock_core.data.service import DataService
from aistock_core.data.synthetic import SyntheticMarket
from aistock_core.strategy.backtest.ashare_mode import AshareConfig
from aistock_core.strategy.backtest.engine import run_backtest
from aistock_core.strategy.backtest.market import load_market
from aistock_core.strategy.topk import TopkDropoutStrategy
from aistock_core.trading.fees import AshareFees
from aistock_core.trading.qlib_rules import QlibExchangeConfig

START, END = "2020-03-02", "2023-12-29"


@pytest.fixture(scope="module")
def frictionless():
    service = DataService(SyntheticMarket(seed=11, n_instruments=80, start="2020-01-02", end=END))
    last = service.calendar.sessions_in_range(START, END)[-1]
    spans = service.provider.instrument_spans("all")
    ends = spans.groupby("instrument")["end"].max()
    codes = [c for c in ends.index if ends[c] >= last and board_of(c) is not Board.STAR]
    market = load_market(service, codes, START, END, benchmark=None)
    wide = np.full(market.close.shape, np.inf)
    market = dataclasses.replace(market, limit_up=wide, limit_down=np.zeros(market.close.shape))
    rng = np.random.default_rng(4)
    index = pd.MultiIndex.from_product([market.dates, market.instruments], names=["datetime", "instrument"])
    scores = pd.Series(rng.standard_normal(len(index)), index=index, name="score")
    return market, scores


def test_ashare_with_zero_costs_and_non_binding_rules_equals_qlib_mode(frictionless):
    market, scores = frictionless
    steps = (np.diff(market.factor, axis=0) != 0) & np.isfinite(market.factor[1:]) & np.isfinite(market.factor[:-1])
    assert steps.sum() > 20  # ex-rights events inside the window
    strategy = TopkDropoutStrategy(topk=10, n_drop=3)
    qlib = run_backtest(market, scores, strategy, mode="qlib", account=1e9,
                        exchange=QlibExchangeConfig(limit_threshold=None, open_cost=0.0, close_cost=0.0, min_cost=0.0))
    ashare = run_backtest(market, scores, strategy, mode="ashare", account=1e9,
                          exchange=AshareConfig(fees=AshareFees.zero()))
    assert len(qlib.report) > 900
    assert ashare.corporate_actions.startswith("factor convention") and qlib.corporate_actions is None
    t, i = np.nonzero(steps)
    ex_cells = pd.MultiIndex.from_arrays([market.dates[t + 1], market.instruments[i]])
    credited = ashare.events[ashare.events["kind"] == "bonus_shares"]
    assert len(ashare.positions.index.intersection(ex_cells)) >= 5  # holdings carried into ex-dates
    assert len(credited) >= 5 and credited.set_index(["datetime", "instrument"]).index.isin(ex_cells).all()
    np.testing.assert_allclose(ashare.report["account"], qlib.report["account"], rtol=1e-6)
    filled = ashare.trades[ashare.trades["status"] == "filled"]
    assert (filled["reason"] != "delisting").all() and len(filled) > 200

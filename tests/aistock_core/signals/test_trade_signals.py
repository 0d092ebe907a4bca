"""Signals of a paper instance through an order run, on SQLite and PostgreSQL: the risk verdict is the cause of a
rejection, fills make executed signals with slippage against the decision price and a time to fill, and the
instance's NAV from the account tables equals the paper broker's own book at the close."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aistock_core.execution.feed import MinuteFeed
from aistock_core.execution.instances import create_instance, paper_state_path
from aistock_core.execution.risk import RiskPolicy
from aistock_core.execution.session import run_slot
from aistock_core.execution.simulated import load_state
from aistock_core.execution.store import ExecutionStore
from aistock_core.feedback.figures import instance_performance
from aistock_core.feedback.periods import make_period
from aistock_core.instances import resolve_instance
from aistock_core.signals.daily import generate_day, sync_day
from aistock_core.signals.store import SignalStore

DAY = pd.Timestamp("2024-04-10")


@pytest.fixture
def ran(db, service, tmp_path):
    names = [c for c in service.instruments("all") if not c.endswith(".BJ")][:6]
    store = ExecutionStore(db)
    create_instance(store, RiskPolicy(blacklist=(names[0],)), name="alpha", capital=1e6)
    weights = pd.Series(0.15, index=names)
    scores = pd.Series(np.linspace(-1, 1, len(service.instruments("all"))), index=service.instruments("all"))
    generate_day(db, service, DAY, weights, scores)
    result = run_slot(store, service, tmp_path, "alpha", DAY, "09:35", weights, trading_mode="paper")
    sync_day(db, service, DAY, final=True)
    return names, result, tmp_path


def test_order_outcomes_move_the_signals(db, service, ran):
    names, result, _ = ran
    frame = SignalStore(db).frame(DAY, "trade-alpha").set_index("symbol")
    assert set(frame.index) == set(names) and set(frame["source"]) == {"target_positions"}
    assert frame.loc[names[0], "state"] == "rejected"
    moves = SignalStore(db).transitions([frame.loc[names[0], "signal_key"]])
    assert list(moves["to_state"]) == ["generated", "validated", "queued", "rejected"]
    assert moves["cause"].iloc[-1].startswith("risk verdict blacklist")
    orders = {o.symbol: o for o in result.orders}
    for symbol in names[1:]:
        row, order = frame.loc[symbol], orders[symbol]
        assert row["state"] == ("executed" if order.filled_volume > 0 else "expired")
        if order.filled_volume:
            fills = [f for f in ExecutionStore(db).fills("alpha", DAY) if f.symbol == symbol]
            vwap = sum(f.volume * f.price for f in fills) / sum(f.volume for f in fills)
            assert row["executed_price"] == pytest.approx(vwap)
            assert row["execution_slippage_bps"] == pytest.approx((vwap / row["decision_price"] - 1) * 1e4)
            last = max(pd.Timestamp(f.traded_at).tz_localize(None) for f in fills)
            assert row["fill_seconds"] == (last - pd.Timestamp("2024-04-10 09:35")).total_seconds()


def test_nav_from_the_account_tables_equals_the_brokers_book(db, service, ran):
    _, _, home = ran
    broker = load_state(paper_state_path(home, "SIM-alpha"), MinuteFeed(service))
    broker.connect()
    close = service.get_panel(list(broker.snapshot().positions), start=DAY, end=DAY, fields=["close"], adjust=None)
    snap = broker.snapshot()
    value = snap.cash + sum(p.volume * float(close["close"][0, list(close.instruments).index(s)])
                            for s, p in snap.positions.items())
    history, perf = instance_performance(db, service, resolve_instance(db, "alpha"),
                                         make_period(service.calendar, DAY, DAY))
    assert perf["nav"][0]["nav"] == pytest.approx(value / 1e6, rel=1e-12)
    assert perf["total_return"] == pytest.approx(value / 1e6 - 1, rel=1e-9)
    assert len(history.value) == 1 and perf["volatility"] is None and perf["sharpe"] is None

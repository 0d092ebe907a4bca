"""Order runs on SQLite and PostgreSQL: persisted before submission, re-runs send nothing new, crashes at every
point settle by reconciliation, fills deduplicated, verdicts recorded, the kill switch."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from aistock_core.db import Database
from aistock_core.execution.feed import MinuteFeed
from aistock_core.execution.gateway import GatewayHandler
from aistock_core.execution.quotes import market_quotes
from aistock_core.execution.risk import RiskPolicy
from aistock_core.execution.runner import OrderRunner
from aistock_core.execution.simulated import SimulatedBroker
from aistock_core.execution.states import OrderState
from aistock_core.execution.store import ExecutionStore

DAY = pd.Timestamp("2024-07-01")
NOW = pd.Timestamp("2024-07-01 09:35", tz="Asia/Shanghai")


class Crash(Exception):
    pass


@pytest.fixture
def store(db_url):
    db = Database(db_url)
    store = ExecutionStore(db)
    store.create_instance({"name": "alpha", "mode": "paper", "gateway": "simulated", "account_id": "A1",
                           "capital": 1e6, "loop": None, "model": None, "frequency": "daily", "policy": {},
                           "trading_state": "active"})
    yield store
    db.dispose()


@pytest.fixture
def setup(store, market, universe):
    broker = SimulatedBroker(MinuteFeed(market), account_id="A1", cash=1e6)
    broker.start_day(DAY, universe)
    broker.connect()
    quotes = market_quotes(market, universe, NOW)
    names = [s for s in universe if np.isfinite(quotes.at[s, "last"])][:6]
    weights = pd.Series(0.15, index=names)
    return store, broker, quotes, weights


def crash_at(point):
    def crash(at):
        if at == point:
            raise Crash(at)
    return crash


def run(store, broker, quotes, weights, crash=None, policy=None):
    try:
        return OrderRunner(store, broker, "alpha", policy or RiskPolicy(), crash=crash).run(
            DAY, "09:35", weights, quotes, NOW, mode="paper")
    except Crash:
        broker.set_handler(GatewayHandler())  # the dead process's unwritten reports die with it
        raise


def test_rerun_sends_nothing_new(setup):
    store, broker, quotes, weights = setup
    first = run(store, broker, quotes, weights)
    assert first.planned_now == first.submitted == 6 and len(broker.orders) == 6
    second = run(store, broker, quotes, weights)
    assert (second.planned_now, second.submitted) == (0, 0) and len(broker.orders) == 6
    assert [o.broker_order_id for o in second.orders] == [o.broker_order_id for o in first.orders]


def test_crash_after_persist_keeps_intents_and_the_rerun_sends_them_once(setup):
    store, broker, quotes, weights = setup
    with pytest.raises(Crash):
        run(store, broker, quotes, weights, crash_at("after_persist"))
    assert {o.state for o in store.orders("alpha", DAY)} == {OrderState.INITIALIZED}
    assert broker.orders == {}  # persisted, nothing sent
    assert run(store, broker, quotes, weights).submitted == 6
    assert run(store, broker, quotes, weights).submitted == 0 and len(broker.orders) == 6


def test_crash_after_mark_is_never_resent(setup):
    store, broker, quotes, weights = setup
    with pytest.raises(Crash):
        run(store, broker, quotes, weights, crash_at("after_mark"))
    assert {o.state for o in store.orders("alpha", DAY)} == {OrderState.SUBMITTED}
    rerun = run(store, broker, quotes, weights)
    assert rerun.start.lost_orders == 6 and rerun.submitted == 0 and broker.orders == {}
    assert {o.state for o in rerun.orders} == {OrderState.REJECTED}


def test_crash_after_submit_before_ack_adopts_the_broker_order(setup):
    store, broker, quotes, weights = setup
    with pytest.raises(Crash):
        run(store, broker, quotes, weights, crash_at("after_submit"))
    assert len(broker.orders) == 1  # the first order reached the broker; the process died before recording it
    rerun = run(store, broker, quotes, weights)
    assert rerun.submitted == 0 and len(broker.orders) == 1
    assert rerun.start.ids_adopted == 1 and rerun.start.lost_orders == 5
    sent = [o for o in rerun.orders if o.broker_order_id]
    assert [o.broker_order_id for o in sent] == list(broker.orders)


def test_fills_are_deduplicated_and_summed_from_trades(setup):
    store, broker, quotes, weights = setup
    run(store, broker, quotes, weights)
    broker.advance(pd.Timestamp("2024-07-01 15:00", tz="Asia/Shanghai"))
    for trade in broker.trades:  # every report pushed twice more
        broker.handler.on_trade(trade)
        broker.handler.on_trade(trade)
    result = run(store, broker, quotes, weights)
    assert len(store.fills("alpha")) == len(broker.trades) > 0
    by_id = {o.broker_order_id: o.filled_volume for o in broker.query_orders()}
    assert {o.broker_order_id: o.filled_volume for o in result.orders} == by_id
    assert result.end.mismatches == []


def test_every_verdict_is_recorded_and_denied_orders_are_not_sent(setup):
    store, broker, quotes, weights = setup
    banned = weights.index[0]
    result = run(store, broker, quotes, weights, policy=RiskPolicy(blacklist=(banned,)))
    states = {o.symbol: o.state for o in result.orders}
    assert states[banned] is OrderState.DENIED and result.submitted == 5
    verdicts = store.events("alpha", "verdict")
    assert len(verdicts) == 6
    assert [(v.symbol, v.rule) for v in verdicts if not v.allowed] == [(banned, "blacklist")]
    assert banned not in {o.report.symbol for o in broker.orders.values()}


def test_halt_cancels_and_blocks_until_resume(setup):
    store, broker, quotes, weights = setup
    runner = OrderRunner(store, broker, "alpha", RiskPolicy())
    runner.run(DAY, "09:35", weights, quotes, NOW, mode="paper")
    halted_at = datetime(2024, 7, 1, 1, 40, tzinfo=UTC)
    store.record_halt("alpha", "ops", halted_at, "manual test")
    assert runner.cancel_open(DAY, halted_at) > 0
    assert all(o.report.status in (53, 54, 56) for o in broker.orders.values())
    blocked = runner.run(DAY, "10:35", weights * 0.5, quotes, NOW + pd.Timedelta(hours=1), mode="paper")
    assert blocked.submitted == 0 and {o.state for o in blocked.orders} <= {OrderState.DENIED}
    assert store.record_resume("alpha", "ops", halted_at) == 1
    assert store.instance("alpha").trading_state == "active"
    [halt] = store.halts("alpha")
    assert (halt.halted_by, halt.reason, halt.resumed_by) == ("ops", "manual test", "ops")


def test_daily_loss_halts_the_instance_and_records_it(setup):
    store, broker, quotes, weights = setup
    from aistock_core.execution.simulated import _Holding

    held = weights.index[0]
    last = float(quotes.at[held, "last"])
    broker.holdings[held] = _Holding(volume=50_000, sellable=50_000, cost=50_000 * last)
    fell = quotes.copy()
    fell.loc[held, "prev_close"] = last * 1.5  # the holding opened the day 50% higher: a loss well above 5%
    result = OrderRunner(store, broker, "alpha", RiskPolicy()).run(DAY, "09:35", weights, fell, NOW, mode="paper")
    assert result.submitted == 0 and {o.state for o in result.orders} == {OrderState.DENIED}
    assert store.instance("alpha").trading_state == "halted"
    [halt] = store.halts("alpha")
    assert halt.halted_by == "risk engine" and "daily loss" in halt.reason


def test_a_book_mismatch_blocks_trading(setup):
    store, broker, quotes, weights = setup
    from aistock_core.execution.domain import AccountSnapshot

    store.opening_snapshot("alpha", DAY, AccountSnapshot(cash=2e6), 2e6)  # our book says 2m, the broker 1m
    result = run(store, broker, quotes, weights)
    assert result.blocked and result.orders == [] and broker.orders == {}
    assert [(m.kind, m.local, m.broker) for m in result.start.blocking] == [("cash", 2e6, 1e6)]
    unresolved = [e for e in store.events("alpha", "reconcile") if not e.resolved]
    assert [e.rule for e in unresolved] == ["cash"]

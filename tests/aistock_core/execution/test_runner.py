"""Order runs on SQLite and PostgreSQL: persisted before submission, re-runs send nothing new, crashes at every
point settle by reconciliation, fills deduplicated, verdicts recorded, the kill switch."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select, update

from aistock_core.db import Database
from aistock_core.db.models.execution import TradeIntent, TradeOrder
from aistock_core.errors import ConfigError
from aistock_core.execution.domain import AccountSnapshot, PlannedOrder
from aistock_core.execution.feed import MinuteFeed
from aistock_core.execution.gateway import GatewayHandler
from aistock_core.execution.planner import PlanParams
from aistock_core.execution.quotes import market_quotes
from aistock_core.execution.reconcile import acknowledge
from aistock_core.execution.risk import RiskPolicy, Verdict
from aistock_core.execution.runner import OrderRunner
from aistock_core.execution.simulated import SimulatedBroker, _Holding
from aistock_core.execution.states import TRANSITIONS, OrderState
from aistock_core.execution.store import ExecutionStore, StateUpdate

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
    store.opening_snapshot("alpha", DAY, AccountSnapshot(cash=2e6), 2e6)  # our book says 2m, the broker 1m
    result = run(store, broker, quotes, weights)
    assert result.blocked and result.orders == [] and broker.orders == {}
    assert [(m.kind, m.local, m.broker) for m in result.start.blocking] == [("cash", 2e6, 1e6)]
    unresolved = [e for e in store.events("alpha", "reconcile") if not e.resolved]
    assert [e.rule for e in unresolved] == ["cash"]


def test_split_children_are_their_own_intents_and_a_rerun_sends_none_again(setup):
    store, broker, quotes, weights = setup
    plan = PlanParams(participation=0.002, max_children=3)
    runner = OrderRunner(store, broker, "alpha", RiskPolicy(), plan=plan)
    first = runner.run(DAY, "09:35", weights, quotes, NOW, mode="paper")
    keys = [o.intent_key for o in first.orders]
    children = [k for k in keys if k.rsplit("|", 1)[1].isdigit()]
    assert len(children) > len(weights) and len(set(keys)) == len(keys)  # split: several children per name
    assert first.submitted == len(keys) == len(broker.orders)
    for order in first.orders:  # no child above the participation cap of its name's recent volume
        assert order.volume <= 0.002 * quotes.at[order.symbol, "recent_volume"]
    again = runner.run(DAY, "09:35", weights, quotes, NOW, mode="paper")
    assert (again.planned_now, again.submitted) == (0, 0) and len(broker.orders) == len(keys)


def test_stop_loss_forces_a_sell_whatever_the_targets(setup):
    store, broker, quotes, weights = setup
    held = weights.index[0]
    last = float(quotes.at[held, "last"])
    broker.holdings[held] = _Holding(volume=3000, sellable=3000, cost=3000 * last * 1.25)  # 20% under the cost
    result = OrderRunner(store, broker, "alpha", RiskPolicy(stop_loss_ratio=0.15)).run(
        DAY, "09:35", weights, quotes, NOW, mode="paper")
    mine = [o for o in result.orders if o.symbol == held]
    assert [(o.side, o.volume) for o in mine] == [("sell", 3000)]  # the strategy wanted 15% of equity in it
    [intent] = [e for e in store.events("alpha", "verdict") if e.symbol == held]
    assert intent.allowed
    assert store.orders("alpha", DAY)[0].state is not OrderState.DENIED
    with store.db.session() as s:
        reason = s.scalar(select(TradeIntent.reason).where(TradeIntent.intent_key == mine[0].intent_key))
    assert reason.startswith("stop loss: last")


def test_cancels_count_against_the_next_slot(setup, universe):
    store, broker, quotes, _ = setup
    names = [s for s in universe if np.isfinite(quotes.at[s, "last"])][:12]
    runner = OrderRunner(store, broker, "alpha", RiskPolicy(cancel_min_orders=5))
    first = runner.run(DAY, "09:35", pd.Series(0.05, index=names), quotes, NOW, mode="paper")
    assert first.submitted == 12
    asked = runner.cancel_open(DAY, datetime(2024, 7, 1, 1, 36, tzinfo=UTC))  # 09:36 in Shanghai
    assert asked == 12
    sent, canceled = store.order_times("alpha", DAY)
    assert (len(sent), len(canceled)) == (12, 12) and canceled[0] == NOW + pd.Timedelta(minutes=1)
    later = runner.run(DAY, "09:39", pd.Series(0.06, index=names), quotes, NOW + pd.Timedelta(minutes=4),
                       mode="paper")
    new = [o for o in later.orders if o.slot == "0939"]
    assert new and later.submitted == 0 and {o.state for o in new} == {OrderState.DENIED}
    assert {e.rule for e in store.events("alpha", "verdict") if not e.allowed} == {"cancel_rate"}
    # outside the 300 s window the same history no longer counts
    latest = runner.run(DAY, "09:45", pd.Series(0.07, index=names), quotes, NOW + pd.Timedelta(minutes=10),
                        mode="paper")
    assert latest.submitted > 0


def test_a_mismatch_blocks_every_run_until_acknowledged(setup):
    store, broker, quotes, weights = setup
    store.opening_snapshot("alpha", DAY, AccountSnapshot(cash=2e6), 2e6)  # our book says 2m, the broker 1m
    assert run(store, broker, quotes, weights).blocked
    with pytest.raises(ConfigError, match="--by NAME and --note"):
        acknowledge(store, broker, "alpha", DAY, by="ops", at=datetime(2024, 7, 1, 1, 40, tzinfo=UTC), note=" ")
    again = run(store, broker, quotes, weights)
    assert "acknowledge" in again.blocked and broker.orders == {}
    ack = acknowledge(store, broker, "alpha", DAY, by="ops", at=datetime(2024, 7, 1, 1, 40, tzinfo=UTC),
                      note="opening cash typed wrong")
    assert (ack.acknowledged_by, ack.note) == ("ops", "opening cash typed wrong")
    assert [m["rule"] for m in ack.mismatches] == ["cash"]  # both runs at 09:35 found the same one
    assert store.unresolved_mismatches("alpha") == [] and store.opening("alpha", DAY).cash == 1e6
    [stored] = store.acknowledgements("alpha")
    assert stored.mismatches == ack.mismatches
    traded = run(store, broker, quotes, weights)
    assert traded.blocked is None and traded.submitted == 6 and traded.end.mismatches == []
    with pytest.raises(ConfigError, match="no unresolved reconciliation mismatch"):
        acknowledge(store, broker, "alpha", DAY, by="ops", at=datetime(2024, 7, 1, 1, 50, tzinfo=UTC), note="x")


def test_acknowledging_rebases_the_book_on_the_broker_after_fills(setup):
    store, broker, quotes, weights = setup
    run(store, broker, quotes, weights)
    broker.advance(pd.Timestamp("2024-07-01 15:00", tz="Asia/Shanghai"))
    sym = next(iter(broker.holdings))
    broker.holdings[sym].volume += 100  # a position appears at the broker that no fill explains
    assert run(store, broker, quotes, weights).blocked
    acknowledge(store, broker, "alpha", DAY, by="ops", at=datetime(2024, 7, 1, 7, 0, tzinfo=UTC), note="transfer in")
    assert store.opening("alpha", DAY).volume(sym) == 100  # opening + today's fills = the broker now
    assert run(store, broker, quotes, weights).end.mismatches == []


@pytest.mark.parametrize("current", list(OrderState))
def test_the_store_moves_orders_only_along_the_table(store, current):
    """Every (current → new) pair through `set_states`: allowed edges move, every other is refused; a broker
    status (``force``) always wins."""
    orders = [PlannedOrder(f"alpha|20240701|0935|6000{i:02d}.SH|buy", f"r{i:02d}", f"6000{i:02d}.SH", "buy", 100,
                           10.0, 11.0, 9.0) for i, _ in enumerate(OrderState)]
    store.persist_plan("alpha", DAY, "0935", orders, [Verdict(o.intent_key, o.symbol, "buy", True, "passed", "")
                                                      for o in orders])
    with store.db.session() as s:
        s.execute(update(TradeOrder).values(state=str(current)))
    store.set_states([StateUpdate(o.intent_key, new) for o, new in zip(orders, OrderState, strict=True)])
    got = {o.intent_key: o.state for o in store.orders("alpha", DAY)}
    for o, new in zip(orders, OrderState, strict=True):
        expected = new if new in TRANSITIONS[current] else current
        assert got[o.intent_key] is expected, f"{current} → {new}"
    store.set_states([StateUpdate(o.intent_key, new, force=True) for o, new in zip(orders, OrderState, strict=True)])
    assert [o.state for o in store.orders("alpha", DAY)] == list(OrderState)

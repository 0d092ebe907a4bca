"""The fault-injection harness: ≥ 50 seeded faults of every kind, each crash followed by a re-run; no duplicate
order, no lost fill, the book equal to the broker's. A runner that re-sends after a crash must be caught."""

from __future__ import annotations

import pytest

from aistock_core.db import Database
from aistock_core.execution import runner as runner_module
from aistock_core.execution.harness import run_harness
from aistock_core.execution.reconcile import ReconcileResult
from aistock_core.execution.states import OrderState
from aistock_core.execution.store import ExecutionStore, StateUpdate


def harness(db_url, market, universe, n_faults=50, seed=3):
    db = Database(db_url)
    try:
        days = list(market.calendar.sessions_in_range("2024-06-03", "2024-06-28"))
        return run_harness(market, ExecutionStore(db), days, universe, n_faults=n_faults, seed=seed)
    finally:
        db.dispose()


@pytest.mark.slow
def test_fifty_faults_no_duplicates_no_lost_fills_book_equal(db_url, market, universe):
    r = harness(db_url, market, universe)
    assert r.total_faults >= 50
    for kind in ("crash_after_persist", "crash_after_mark", "crash_after_submit", "lost_ack", "disconnect",
                 "reject", "lost_trade", "duplicate_trade", "repush"):
        assert r.faults[kind] > 0, kind
    assert r.broker_orders > 20 and r.broker_trades > 100
    assert (r.duplicate_orders, r.lost_fills, r.position_mismatches) == (0, 0, 0)
    assert r.cash_difference < 0.01


def test_the_harness_catches_a_runner_that_resends(monkeypatch, market, universe, tmp_path):
    """A runner that skips reconciliation and re-sends orders left ``submitted`` without a broker id (the naive
    "no acknowledgement, try again") must show up as duplicates."""
    original = ExecutionStore.orders

    def resend(self, instance, day=None, slot=None):
        views = original(self, instance, day, slot)
        stuck = [v for v in views if v.state is OrderState.SUBMITTED and v.broker_order_id is None]
        self.set_states([StateUpdate(v.intent_key, OrderState.INITIALIZED, force=True) for v in stuck])
        return original(self, instance, day, slot)

    monkeypatch.setattr(runner_module.ExecutionStore, "orders", resend)
    monkeypatch.setattr(runner_module, "reconcile", lambda *args: ReconcileResult())
    r = harness(f"sqlite:///{tmp_path / 'bad.db'}", market, universe, n_faults=20)
    assert r.duplicate_orders > 0

"""Signals of a preview instance through a day, on SQLite and PostgreSQL: generated from the targets,
validated, followed through the preview engine's orders, closed after the session, re-runs change nothing."""

from __future__ import annotations

import pandas as pd
import pytest

from aistock_core.db.models.preview import PreviewTrade
from aistock_core.preview.engine import SignalPreviewEngine
from aistock_core.preview.instances import create_instance
from aistock_core.preview.settle import settle
from aistock_core.signals.daily import generate_day, sync_day
from aistock_core.signals.store import SignalStore

DAY1, DAY2 = pd.Timestamp("2024-04-01"), pd.Timestamp("2024-04-02")


def _stocks(service, n, offset=0):
    return [c for c in service.instruments("all") if not c.endswith(".BJ")][offset:offset + n]


@pytest.fixture
def traded(db, service):
    """One instance holding 6 names after DAY1; on DAY2 the targets keep 3, drop 3 and add 3."""
    inst = create_instance(db, "sig", 1e6)
    first = pd.Series(0.15, index=_stocks(service, 6))
    SignalPreviewEngine(db, service, lambda i, d: first).run(DAY1)
    settle(db, service, DAY1)
    second = pd.Series(0.15, index=_stocks(service, 3) + _stocks(service, 3, offset=10))
    return inst, second


def test_a_day_of_preview_signals(db, service, traded):
    inst, targets = traded
    scores = pd.Series(range(len(service.instruments("all"))), index=service.instruments("all"), dtype=float)
    gen = generate_day(db, service, DAY2, targets, scores)
    store = SignalStore(db)
    frame = store.frame(DAY2, f"preview-{inst.id}")
    assert gen.added == len(frame) and set(frame["state"]) == {"validated"}
    # 3 names leave (sells), 3 come in (buys); the 3 kept ones are near their weight (no signal, or a small one)
    assert set(frame.loc[frame["signal_type"] == "exit", "symbol"]) == set(_stocks(service, 6)[3:])
    assert set(frame.loc[frame["signal_type"] == "entry", "symbol"]) == set(_stocks(service, 3, offset=10))

    SignalPreviewEngine(db, service, lambda i, d: targets).run(DAY2)
    sync_day(db, service, DAY2, final=True)
    after = store.frame(DAY2, f"preview-{inst.id}").set_index("symbol")
    with db.session() as s:
        trades = {(t.symbol, t.side): t for t in s.query(PreviewTrade).filter(PreviewTrade.trading_day == DAY2.date())}
    for (symbol, side), t in trades.items():
        row = after.loc[symbol]
        assert row["direction"] == side
        assert row["state"] == ("executed" if t.status == "filled" else "rejected")
        if t.status == "filled":
            assert row["executed_price"] == pytest.approx(t.price) and row["execution_slippage_bps"] == 0.0
    # every lifecycle step is recorded once with its cause
    moves = store.transitions(list(after["signal_key"]))
    executed_key = after.loc[after["state"] == "executed", "signal_key"].iloc[0]
    path = moves[moves["signal_key"] == executed_key]
    assert list(path["to_state"]) == ["generated", "validated", "queued", "executing", "executed"]
    assert path["cause"].str.len().min() > 0 and "virtual fill" in path["cause"].iloc[-1]

    before = (store.frame(DAY2).drop(columns="updated_at"), len(store.transitions(list(after["signal_key"]))))
    again_gen = generate_day(db, service, DAY2, targets, scores)
    again = sync_day(db, service, DAY2, final=True)
    assert (again_gen.added, again_gen.moved, again.added, again.moved) == (0, 0, 0, 0)
    pd.testing.assert_frame_equal(store.frame(DAY2).drop(columns="updated_at"), before[0])
    assert len(store.transitions(list(after["signal_key"]))) == before[1]


def test_a_signal_without_an_order_expires_after_the_close(db, service, traded):
    _, targets = traded
    scores = pd.Series(0.0, index=service.instruments("all"))
    generate_day(db, service, DAY2, targets, scores)
    sync_day(db, service, DAY2, final=False)
    store = SignalStore(db)
    assert set(store.frame(DAY2)["state"]) == {"validated"}  # the slot has not run: still waiting
    sync_day(db, service, DAY2, final=True)
    frame = store.frame(DAY2)
    assert set(frame["state"]) == {"expired"}
    causes = store.transitions(list(frame["signal_key"]))
    assert causes.loc[causes["to_state"] == "expired", "cause"].str.contains("no order for slot 09:35").all()


def test_an_order_without_a_signal_gets_its_own(db, service, traded):
    _, targets = traded
    SignalPreviewEngine(db, service, lambda i, d: targets).run(DAY2)
    sync_day(db, service, DAY2, final=True)
    frame = SignalStore(db).frame(DAY2)
    assert len(frame) > 0 and set(frame["source"]) == {"preview engine order"}
    assert set(frame["state"]) <= {"executed", "rejected"}

"""Fixtures of the feedback tests: preview instances traded and settled over pinned sessions, and a paper instance's
hand-made books, on both dialects (market, service and db are the preview tests' own)."""

from __future__ import annotations

import pandas as pd
import pytest

from aistock_core.preview.engine import SignalPreviewEngine
from aistock_core.preview.instances import create_instance
from aistock_core.preview.settle import settle
from tests.aistock_core.preview import conftest as preview_fixtures
from tests.aistock_core.preview.conftest import rotating_targets

#: The preview tests' fixtures (synthetic market to 2024-04-30, its service, an app DB on both dialects).
market, service, db = preview_fixtures.market, preview_fixtures.service, preview_fixtures.db

#: April 2024 sessions (Qingming 4-5 closed): a whole week 8..12 and a partial one.
DAYS = pd.DatetimeIndex(["2024-04-01", "2024-04-02", "2024-04-03", "2024-04-08", "2024-04-09", "2024-04-10",
                         "2024-04-11", "2024-04-12"])


@pytest.fixture
def traded(db, service):
    """Two preview instances ("calm": 8 names, "tight": 2 names and a 0.5% drawdown limit) traded and settled."""
    calm = create_instance(db, "calm", 1e6)
    tight = create_instance(db, "tight", 5e5, params={"limits": {"max_drawdown": 0.005}})
    for names, inst in ((8, calm), (2, tight)):
        engine = SignalPreviewEngine(db, service, rotating_targets(service, names))
        for day in DAYS:
            engine.run(day, ids=[inst.id])
    for day in DAYS:
        settle(db, service, day)
    return {"calm": f"preview-{calm.id}", "tight": f"preview-{tight.id}"}


#: The paper instance's two sessions: buys on the first, a sell on the second.
PAPER_DAYS = pd.DatetimeIndex(["2024-04-08", "2024-04-09"])


@pytest.fixture
def paper(db, service):
    """A paper instance with hand-made books: day 1 buys A (+10 bps slippage, filled), B (half filled at −10 bps,
    then canceled) and a risk-denied C; day 2 sells A at −20 bps (+20 bps against the trader)."""
    from aistock_core.execution.domain import AccountSnapshot, BrokerTrade, PlannedOrder, Position
    from aistock_core.execution.intents import intent_key
    from aistock_core.execution.risk import RiskPolicy, Verdict
    from aistock_core.execution.states import OrderState
    from aistock_core.execution.store import ExecutionStore

    store = ExecutionStore(db)
    store.create_instance({"name": "px", "mode": "paper", "gateway": "simulated", "account_id": "SIM-px",
                           "capital": 1e6, "loop": None, "model": None, "frequency": "daily",
                           "policy": RiskPolicy().model_dump(mode="json"), "trading_state": "active"})
    listed = [s for s in service.instruments("all") if s.endswith(".SH")]
    panel = service.get_panel(listed, start=PAPER_DAYS[0], end=PAPER_DAYS[-1], fields=["close"], adjust=None)
    close = pd.DataFrame(panel["close"], index=panel.dates, columns=panel.instruments).dropna(axis=1)
    a, b, c = close.columns[:3]
    d1, d2 = PAPER_DAYS
    store.opening_snapshot("px", d1, AccountSnapshot(1e6), 1e6)
    planned = [PlannedOrder(intent_key("px", d1, "0935", s, "buy"), f"r{i}", s, "buy", 1000, float(close.loc[d1, s]),
                            99.0, 1.0) for i, s in enumerate((a, b, c))]
    store.persist_plan("px", d1, "0935", planned, [
        Verdict(o.intent_key, o.symbol, "buy", o.symbol != c, "ok" if o.symbol != c else "max_position_ratio", "")
        for o in planned])
    pa, pb = planned[0].price, planned[1].price
    trades = [BrokerTrade("t1", "o1", "r0", a, "buy", 1000, pa * 1.001, 5.0, f"{d1:%Y-%m-%d}T09:36:30"),
              BrokerTrade("t2", "o2", "r1", b, "buy", 500, pb * 0.999, 5.0, f"{d1:%Y-%m-%d}T09:40:00")]
    store.add_fills("px", "SIM-px", d1, trades, {"r0": planned[0].intent_key, "r1": planned[1].intent_key})
    store.set_state(planned[0].intent_key, OrderState.FILLED, force=True)
    store.set_state(planned[1].intent_key, OrderState.CANCELED, force=True)
    cash = 1e6 - sum(t.volume * t.price + t.fee for t in trades)
    store.opening_snapshot("px", d2, AccountSnapshot(cash, {a: Position(a, 1000, 1000, pa * 1.001),
                                                            b: Position(b, 500, 500, pb * 0.999)}), cash)
    sell = PlannedOrder(intent_key("px", d2, "1000", a, "sell"), "s0", a, "sell", 1000, float(close.loc[d2, a]),
                        99.0, 1.0)
    store.persist_plan("px", d2, "1000", [sell], [Verdict(sell.intent_key, a, "sell", True, "ok", "")])
    fill = BrokerTrade("t3", "o3", "s0", a, "sell", 1000, sell.price * 0.998, 5.0 + sell.price * 0.998 * 1000 * 5e-4,
                       f"{d2:%Y-%m-%d}T10:01:00")
    store.add_fills("px", "SIM-px", d2, [fill], {"s0": sell.intent_key})
    store.set_state(sell.intent_key, OrderState.FILLED, force=True)
    return {"ref": "trade-px", "stamp": fill.volume * fill.price * 5e-4, "fees": 15.0 + fill.volume * fill.price * 5e-4}

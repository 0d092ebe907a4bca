"""One gateway test suite for the simulated broker and for `QmtGateway` over the stand-in ``xtquant`` (driven by
the same simulated broker): the runner and reconciliation must not be able to tell them apart."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aistock_core.db import Database
from aistock_core.execution.feed import MinuteFeed
from aistock_core.execution.gateway import AckLost, OrderNotSent, OrderRequest
from aistock_core.execution.quotes import market_quotes
from aistock_core.execution.risk import RiskPolicy
from aistock_core.execution.runner import OrderRunner
from aistock_core.execution.simulated import Faults, SimulatedBroker
from aistock_core.execution.states import OrderState
from aistock_core.execution.store import ExecutionStore

DAY = pd.Timestamp("2024-07-01")
NOW = pd.Timestamp("2024-07-01 09:35", tz="Asia/Shanghai")
STANDIN = Path(__file__).parent / "xtquant_standin"


@pytest.fixture
def xtquant(monkeypatch):
    monkeypatch.syspath_prepend(str(STANDIN))
    for name in [m for m in sys.modules if m == "xtquant" or m.startswith("xtquant.")]:
        monkeypatch.delitem(sys.modules, name)
    from xtquant import xttrader

    yield xttrader
    xttrader.BACKENDS.clear()


@pytest.fixture(params=["simulated", "qmt"])
def pair(request, market, universe):
    """(gateway under test, the simulated broker behind it, quotes)."""
    def make(faults: Faults | None = None):
        broker = SimulatedBroker(MinuteFeed(market), account_id="ACC1", cash=1e6, seed=4, faults=faults)
        broker.start_day(DAY, universe)
        if request.param == "simulated":
            broker.connect()
            return broker, broker
        xttrader = request.getfixturevalue("xtquant")
        from aistock_core.execution.qmt import QmtGateway

        xttrader.BACKENDS["ACC1"] = broker
        gateway = QmtGateway("userdata_mini", "ACC1", DAY, ack_timeout_s=0.01)
        gateway.connect()
        return gateway, broker

    return make, market_quotes(market, universe, NOW)


def _tradable(quotes, n):
    return [s for s in quotes.index if np.isfinite(quotes.at[s, "last"]) and not quotes.at[s, "suspended"]][:n]


def test_submit_fill_and_queries(pair):
    make, quotes = pair
    gateway, broker = make()
    sym = _tradable(quotes, 1)[0]
    up = float(quotes.at[sym, "limit_up"])
    oid = gateway.submit(OrderRequest(sym, "buy", 1000, up, "c1"))
    [order] = gateway.query_orders()
    assert (order.broker_order_id, order.remark, order.status, order.side) == (oid, "c1", 50, "buy")
    broker.advance(pd.Timestamp("2024-07-01 15:00", tz="Asia/Shanghai"))
    trades = gateway.query_trades()
    assert sum(t.volume for t in trades) == 1000 and {t.broker_order_id for t in trades} == {oid}
    cost = sum(t.volume * t.price + t.fee for t in trades)
    assert gateway.query_cash() == pytest.approx(1e6 - cost)
    pos = gateway.query_positions()[sym]
    assert (pos.volume, pos.sellable) == (1000, 0)  # T+1


def test_cancel_codes_and_not_connected(pair):
    make, quotes = pair
    gateway, broker = make()
    sym = _tradable(quotes, 1)[0]
    oid = gateway.submit(OrderRequest(sym, "buy", 100, float(quotes.at[sym, "limit_down"]), "c2"))
    assert gateway.cancel(oid) == 0
    assert gateway.cancel(oid) == -1
    assert gateway.query_orders()[0].status == 54
    broker.disconnect()
    assert not gateway.connected
    with pytest.raises(OrderNotSent):
        gateway.submit(OrderRequest(sym, "buy", 100, float(quotes.at[sym, "limit_down"]), "c3"))


def test_lost_ack_then_the_order_is_found_by_remark(pair):
    make, quotes = pair
    gateway, _ = make(Faults(lost_ack=1.0))
    sym = _tradable(quotes, 1)[0]
    with pytest.raises(AckLost):
        gateway.submit(OrderRequest(sym, "buy", 100, float(quotes.at[sym, "last"]), "c4"))
    assert [o.remark for o in gateway.query_orders()] == ["c4"]


def test_runner_over_either_gateway_with_faults_sends_once_and_reconciles(pair, db_url):
    make, quotes = pair
    gateway, broker = make(Faults(lost_ack=0.3, reject=0.2, duplicate_trade=0.3, lost_trade=0.3,
                                  repush_on_reconnect=True))
    store = ExecutionStore(Database(db_url))
    store.create_instance({"name": "g", "mode": "paper", "gateway": "simulated", "account_id": "ACC1",
                           "capital": 1e6, "loop": None, "model": None, "frequency": "daily", "policy": {},
                           "trading_state": "active"})
    weights = pd.Series(0.1, index=_tradable(quotes, 8))
    runner = OrderRunner(store, gateway, "g", RiskPolicy())
    first = runner.run(DAY, "09:35", weights, quotes, NOW, mode="paper")
    assert first.planned_now == 8 and first.submitted + first.ack_lost == 8
    broker.advance(pd.Timestamp("2024-07-01 11:00", tz="Asia/Shanghai"))
    broker.disconnect()
    again = runner.run(DAY, "09:35", weights, quotes, NOW, mode="paper")  # reconnects (re-push), reconciles
    assert again.submitted == 0 and len(broker.orders) == 8
    assert again.end.mismatches == []
    assert {f.broker_trade_id for f in store.fills("g")} == {t.trade_id for t in broker.trades}
    states = {o.state for o in again.orders}
    assert OrderState.REJECTED in states and states <= {OrderState.REJECTED, OrderState.FILLED,
                                                        OrderState.PARTIALLY_FILLED, OrderState.ACCEPTED}
    store.db.dispose()


def test_market_order_fills_within_its_protection_and_the_rest_is_canceled(pair):
    """Sent as miniQMT's market type (SH 42 / SZ 47) through the stand-in, it comes back as a market order."""
    make, quotes = pair
    gateway, broker = make()
    sym = _tradable(quotes, 1)[0]
    book = broker.feed.day(DAY, [sym])
    first = book.close[0, 0]  # minute 1, the order's only minute
    up = float(quotes.at[sym, "limit_up"])
    volume = int(5e5 / up) // 100 * 100  # half the cash at the up limit: more than one minute can fill
    oid = gateway.submit(OrderRequest(sym, "buy", volume, up, "m1", "market"))
    [order] = gateway.query_orders()
    assert (order.broker_order_id, order.price_type) == (oid, "market")
    broker.advance(pd.Timestamp("2024-07-01 10:30", tz="Asia/Shanghai"))
    [order] = gateway.query_orders()
    cap = int(np.floor(broker.participation * book.volume[0, 0] / 100) * 100)
    assert 0 < cap < volume
    assert order.filled_volume == cap and order.status == 53  # one minute's fill, the rest canceled
    assert [t.price for t in gateway.query_trades()] == [round(float(first), 2)]
    assert gateway.query_cash() == pytest.approx(1e6 - sum(t.volume * t.price + t.fee for t in gateway.query_trades()))
    assert broker.frozen_cash == 0

"""The simulated broker's A-share rules on hand-made minute bars, its faults, and its match with real data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aistock_core.execution.feed import DayBook, MinuteFeed
from aistock_core.execution.gateway import (
    CANCEL_FINISHED,
    CANCEL_NOT_CONNECTED,
    CANCEL_NOT_FOUND,
    CANCEL_OK,
    AckLost,
    GatewayHandler,
    OrderNotSent,
    OrderRequest,
)
from aistock_core.execution.simulated import Faults, SimulatedBroker, _Holding

DAY = LIVE_DAY = pd.Timestamp("2024-07-01")


def at(day: pd.Timestamp, hhmm: str) -> pd.Timestamp:
    return pd.Timestamp(f"{day:%Y-%m-%d} {hhmm}", tz="Asia/Shanghai")


class FakeFeed:
    """Minute bars given per symbol: a constant price except where ``path`` overrides; 10,000 shares a minute."""

    def __init__(self, paths: dict[str, np.ndarray], up: float = 11.0, down: float = 9.0) -> None:
        self.paths, self.up, self.down = paths, up, down

    def preload(self, day, symbols) -> None:
        pass

    def band(self, day, symbol) -> tuple[float, float]:
        return self.up, self.down

    def day(self, day, symbols) -> DayBook:
        codes = list(dict.fromkeys(symbols))
        close = np.column_stack([self.paths[c] for c in codes])
        return DayBook(pd.Index(codes), close, np.full_like(close, 10_000.0), np.full(len(codes), self.up),
                       np.full(len(codes), self.down))


class Recorder(GatewayHandler):
    def __init__(self):
        self.orders, self.trades = [], []

    def on_order(self, order):
        self.orders.append(order)

    def on_trade(self, trade):
        self.trades.append(trade)


def broker(paths, cash=100_000.0, **kw) -> SimulatedBroker:
    b = SimulatedBroker(FakeFeed(paths), cash=cash, **kw)
    b.start_day(DAY)
    b.connect()
    return b


def flat(price: float, n: int = 240) -> np.ndarray:
    return np.full(n, price)


def test_buy_fills_partially_by_participation_then_fully_with_fees_and_t_plus_one():
    b = broker({"600000.SH": flat(10.0)}, participation=0.25)  # 2,500 shares a minute
    oid = b.submit(OrderRequest("600000.SH", "buy", 6000, 10.0, "r1"))
    b.advance(at(DAY, "09:32"))  # minutes 1 and 2: the order arrived at minute 0, fills from minute 1
    assert [t.volume for t in b.query_trades()] == [2500, 2500]
    assert b.query_orders()[0].status == 55
    b.advance(at(DAY, "09:33"))
    assert b.query_orders()[0].status == 56 and b.query_orders()[0].filled_volume == 6000
    # fees per fill: commission max(25000 × 0.00025 = 6.25, 5) + transfer 0.25 → 6.5; last fill 1000 → 5 + 0.1
    assert [t.fee for t in b.query_trades()] == [6.5, 6.5, 5.1]
    assert b.query_cash() == pytest.approx(100_000 - 60_000 - 18.1)
    assert b.query_positions()["600000.SH"].sellable == 0  # T+1
    b.start_day(DAY + pd.Timedelta(days=1))
    assert b.query_positions()["600000.SH"].sellable == 6000
    assert b.query_orders() == [] and oid


def test_no_buy_fill_at_the_up_limit_and_no_sell_at_the_down_limit():
    path = flat(11.0)
    path[10:] = 10.5
    b = broker({"600000.SH": path, "600004.SH": flat(9.0)}, cash=1e6)
    b.submit(OrderRequest("600000.SH", "buy", 100, 11.0, "r1"))
    b.advance(at(DAY, "09:39"))
    assert b.query_trades() == []  # sealed at 11.00 = the up limit for nine minutes
    b.advance(at(DAY, "09:41"))
    assert b.query_trades()[0].price == 10.5


def test_rejects_are_status_57_with_the_reason():
    b = broker({"600000.SH": flat(10.0), "688001.SH": flat(10.0)}, cash=5_000.0)
    b.submit(OrderRequest("600000.SH", "buy", 100, 11.01, "above"))
    b.submit(OrderRequest("600000.SH", "buy", 150, 10.0, "odd"))
    b.submit(OrderRequest("688001.SH", "buy", 199, 10.0, "star"))
    b.submit(OrderRequest("600000.SH", "buy", 500, 10.0, "cash"))
    b.submit(OrderRequest("600000.SH", "sell", 100, 10.0, "unheld"))
    got = {o.remark: (o.status, o.message) for o in b.query_orders()}
    assert all(status == 57 for status, _ in got.values())
    assert "outside" in got["above"][1] and "not a buy lot" in got["odd"][1] and "not a buy lot" in got["star"][1]
    assert "not enough cash" in got["cash"][1] and "not enough sellable" in got["unheld"][1]
    assert b.query_cash() == 5_000.0 and b.frozen_cash == 0.0


def test_cancel_codes_and_frozen_cash_release():
    b = broker({"600000.SH": flat(10.5)})
    oid = b.submit(OrderRequest("600000.SH", "buy", 1000, 10.0, "r"))
    assert b.frozen_cash > 0
    assert b.cancel("nope") == CANCEL_NOT_FOUND
    assert b.cancel(oid) == CANCEL_OK and b.query_orders()[0].status == 54 and b.frozen_cash == 0
    assert b.cancel(oid) == CANCEL_FINISHED
    b.disconnect()
    assert b.cancel(oid) == CANCEL_NOT_CONNECTED
    with pytest.raises(OrderNotSent):
        b.submit(OrderRequest("600000.SH", "buy", 100, 10.0, "x"))


def test_faults_are_seeded_and_lost_ack_leaves_a_live_order():
    def outcomes(seed):
        b = broker({"600000.SH": flat(10.0)}, cash=1e7, seed=seed, faults=Faults(lost_ack=0.5, disconnect=0.2))
        out = []
        for i in range(20):
            try:
                b.submit(OrderRequest("600000.SH", "buy", 100, 10.0, f"r{i}"))
                out.append("ok")
            except AckLost:
                out.append("ack")
            except OrderNotSent:
                out.append("down")
                b.connect()
        return out, b

    first, b = outcomes(5)
    assert first == outcomes(5)[0] and first != outcomes(6)[0]
    assert {"ok", "ack", "down"} <= set(first)
    live = {o.remark for o in b.query_orders()}
    assert {f"r{i}" for i, o in enumerate(first) if o == "ack"} <= live  # the broker has them
    assert not {f"r{i}" for i, o in enumerate(first) if o == "down"} & live  # never arrived


def test_duplicate_and_lost_reports_and_repush():
    rec = Recorder()
    b = SimulatedBroker(FakeFeed({"600000.SH": flat(10.0)}), cash=1e7, seed=1,
                        faults=Faults(duplicate_trade=0.3, lost_trade=0.3, repush_on_reconnect=True))
    b.set_handler(rec)
    b.start_day(DAY)
    b.connect()
    b.submit(OrderRequest("600000.SH", "buy", 100_000, 10.0, "big"))
    b.advance(at(DAY, "10:30"))
    ids = [t.trade_id for t in rec.trades]
    assert len(set(ids)) < len(b.trades) < len(ids) + b.injected["lost_trade"] + 1
    assert len(ids) - len(set(ids)) == b.injected["duplicate_trade"]
    b.disconnect()
    b.connect()
    assert {t.trade_id for t in rec.trades} == {t.trade_id for t in b.trades}  # the re-push fills the gaps


def test_matches_the_synthetic_market(market, universe):
    """Fill prices are the market's own minute closes, inside the day's limit band."""
    feed = MinuteFeed(market)
    b = SimulatedBroker(feed, cash=1e7)
    b.start_day(LIVE_DAY, universe)
    b.connect()
    book = feed.day(LIVE_DAY, universe)
    j = next(i for i in range(len(universe)) if np.isfinite(book.close[0, i]))
    sym = universe[j]
    b.submit(OrderRequest(sym, "buy", 100, float(book.limit_up[j]), "syn"))
    b.advance(at(LIVE_DAY, "09:31"))
    trade = b.query_trades()[0]
    assert trade.price == pytest.approx(market.provider.minute_path(LIVE_DAY, [sym])[0, 0])
    assert book.limit_down[j] <= trade.price < book.limit_up[j]


def test_market_order_protection_price_and_immediate_cancel_of_the_rest():
    path = flat(10.0)
    path[0] = 10.3  # the first minute trades above the buy's protection price of 10.20
    b = broker({"688001.SH": path, "300001.SZ": flat(10.0)}, cash=1e6, participation=0.25)
    b.holdings["300001.SZ"] = _Holding(volume=6000, sellable=6000, cost=60_000.0)
    b.submit(OrderRequest("688001.SH", "buy", 6000, 10.2, "protected", "market"))
    b.submit(OrderRequest("300001.SZ", "sell", 6000, 9.9, "sell", "market"))
    b.submit(OrderRequest("688001.SH", "buy", 20_000, 10.2, "limit"))
    b.advance(at(DAY, "09:35"))
    got = {o.remark: (o.status, o.filled_volume) for o in b.query_orders()}
    assert got["protected"] == (54, 0)  # 10.30 > 10.20 in its one minute: nothing filled, all canceled
    assert got["sell"] == (53, 2500)  # 25% of 10,000 in minute 1, the rest canceled
    assert got["limit"] == (55, 10_000)  # a limit order stays and fills 2,500 a minute in minutes 2–5
    # only the open half of the limit order keeps cash frozen; the canceled market buy released all of its own
    assert b.frozen_cash == pytest.approx((204_000 + float(b.fees.cost(np.array([204_000.0]), DAY, sell=False)[0]))
                                          / 2)

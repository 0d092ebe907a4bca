"""`SimulatedBroker`: a deterministic paper broker behind the `Gateway` interface, with fault injection.

Matching: from the minute after an order arrives, each minute's close crosses a buy at or below its limit (a
sell at or above) and fills up to ``participation`` × the minute's volume, in whole lots, at the minute's close.
A-share rules come from `aistock_core.trading`: no buy fills at the up limit and no sell at the down limit
(`at_or_beyond`), orders priced outside the day's band or in a non-lot size are rejected (``57``), T+1 (shares
bought today are not sellable until the next day), cash and sellable volume frozen on entry, fees per fill
(`AshareFees`). A market order matches like a limit order at its protection price, in its first minute only:
what does not fill then is canceled (miniQMT's "immediate, rest canceled" market types). Status codes are
miniQMT's (50 reported, 55 part-filled, 56 filled, 53/54 canceled, 57 junk).

Faults, each drawn from one seeded generator so a run replays exactly: a disconnect at submission (the order is
not sent), a lost acknowledgement (the order is live but `submit` raises `AckLost`), a reject, a duplicated or a
lost trade report, and a re-push of every report after a reconnect (what some brokers do).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from aistock_core.data import intraday
from aistock_core.errors import GatewayError
from aistock_core.execution.domain import BrokerOrder, BrokerTrade, Position
from aistock_core.execution.feed import MinuteFeed
from aistock_core.execution.gateway import (
    CANCEL_FINISHED,
    CANCEL_NOT_CONNECTED,
    CANCEL_NOT_FOUND,
    CANCEL_OK,
    AckLost,
    Gateway,
    OrderNotSent,
    OrderRequest,
)
from aistock_core.trading.fees import AshareFees
from aistock_core.trading.prices import at_or_beyond, to_cents
from aistock_core.trading.rules import lot_rule, round_buy_shares, round_sell_shares

_FINISHED = {53, 54, 56, 57}


@dataclass(frozen=True)
class Faults:
    """Probabilities per event (0: never). ``repush_on_reconnect`` re-sends every report after `connect`."""

    disconnect: float = 0.0
    lost_ack: float = 0.0
    reject: float = 0.0
    duplicate_trade: float = 0.0
    lost_trade: float = 0.0
    repush_on_reconnect: bool = False


@dataclass
class _Holding:
    volume: int = 0
    sellable: int = 0
    frozen: int = 0
    cost: float = 0.0


@dataclass
class _Order:
    report: BrokerOrder
    frozen_cash: float = 0.0
    start_minute: int = 0
    fills: list[BrokerTrade] = field(default_factory=list)


class SimulatedBroker(Gateway):
    """A paper account over the data service's minute bars (see the module docstring)."""

    def __init__(self, feed: MinuteFeed, *, account_id: str = "SIM", cash: float = 1_000_000.0, seed: int = 0,
                 faults: Faults | None = None, participation: float = 0.25, fees: AshareFees | None = None) -> None:
        super().__init__()
        self.feed, self.account_id, self.participation = feed, account_id, participation
        self.faults = faults or Faults()
        self.fees = fees or AshareFees()
        self.rng = np.random.default_rng(seed)
        self.cash, self.frozen_cash = float(cash), 0.0
        self.holdings: dict[str, _Holding] = {}
        self.orders: dict[str, _Order] = {}
        self.trades: list[BrokerTrade] = []
        self.day: pd.Timestamp | None = None
        self.minute = 0
        self._connected = False
        self._seq = 0
        #: Faults injected so far, by kind (the harness reports them).
        self.injected: Counter[str] = Counter()

    # -- session -------------------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._connected

    def connect(self) -> None:
        was_down = not self._connected
        self._connected = True
        if was_down and self.faults.repush_on_reconnect and (self.orders or self.trades):
            self.injected["repush"] += 1
            for order in self.orders.values():
                self.handler.on_order(order.report)
            for trade in self.trades:
                self.handler.on_trade(trade)

    def disconnect(self) -> None:
        if self._connected:
            self._connected = False
            self.handler.on_disconnected()

    def start_day(self, day: pd.Timestamp, universe: list[str] | None = None) -> None:
        """Open a new session: yesterday's open orders expire, every share becomes sellable (T+1), today's
        orders and trades start empty (queries return today's only, as miniQMT's do). ``universe``: symbols
        whose minute bars to load now, in one batch."""
        self._end_day()
        self.day = pd.Timestamp(day).normalize()
        if universe:
            self.feed.preload(self.day, universe)
        self.minute = 0
        self.orders, self.trades = {}, []
        for h in self.holdings.values():
            h.sellable, h.frozen = h.volume, 0
        self.holdings = {s: h for s, h in self.holdings.items() if h.volume > 0}

    def _end_day(self) -> None:
        for oid, order in list(self.orders.items()):
            if order.report.status not in _FINISHED:
                self._cancel_rest(oid)

    # -- orders --------------------------------------------------------------------------------------------
    def submit(self, request: OrderRequest) -> str:
        if not self._connected:
            raise OrderNotSent(f"account {self.account_id}: not connected; order {request.remark} not sent")
        if self.day is None:
            raise GatewayError("simulated broker has no session; call start_day(day) first")
        draw = self.rng.random(3)
        if draw[0] < self.faults.disconnect:
            self.injected["disconnect"] += 1
            self.disconnect()
            raise OrderNotSent(f"account {self.account_id}: disconnected; order {request.remark} not sent")
        self._seq += 1
        oid = f"{self.account_id}-{self.day:%Y%m%d}-{self._seq:06d}"
        reason = self._reject_reason(request)
        if reason is None and draw[1] < self.faults.reject:
            self.injected["reject"] += 1
            reason = "injected reject"
        report = BrokerOrder(oid, request.remark, request.symbol, request.side, request.volume, request.price,
                             57 if reason else 50, 0, reason or "", request.price_type)
        order = _Order(report, start_minute=self.minute + 1)
        self.orders[oid] = order
        if not reason:
            self._freeze(order)
        if draw[2] < self.faults.lost_ack:
            self.injected["lost_ack"] += 1
            raise AckLost(f"account {self.account_id}: no acknowledgement for order {request.remark}")
        self.handler.on_order(report)
        return oid

    def _reject_reason(self, r: OrderRequest) -> str | None:
        up, down = self.feed.band(self.day, r.symbol)
        if not (to_cents(down) <= to_cents(r.price) <= to_cents(up)):
            return f"price {r.price} outside [{down}, {up}]"
        min_lot, step = (np.array([float(x)]) for x in lot_rule(r.symbol))
        held = self.holdings.get(r.symbol, _Holding())
        if r.side == "buy":
            if float(round_buy_shares(np.array([float(r.volume)]), min_lot, step)[0]) != r.volume:
                return f"{r.volume} is not a buy lot of {r.symbol}"
            need = r.volume * r.price + self.fees.order_cost(r.volume * r.price, self.day, sell=False)
            if need > self.cash - self.frozen_cash + 1e-6:
                return f"not enough cash: need {need:.2f}, available {self.cash - self.frozen_cash:.2f}"
            return None
        if float(round_sell_shares(np.array([float(r.volume)]), np.array([float(held.volume)]), step)[0]) != r.volume:
            return f"{r.volume} is not a sell lot of {r.symbol}"
        if r.volume > held.sellable - held.frozen:
            return f"not enough sellable {r.symbol}: {held.sellable - held.frozen} < {r.volume}"
        return None

    def _freeze(self, order: _Order) -> None:
        r = order.report
        if r.side == "buy":
            order.frozen_cash = r.volume * r.price + self.fees.order_cost(r.volume * r.price, self.day, sell=False)
            self.frozen_cash += order.frozen_cash
        else:
            self.holdings[r.symbol].frozen += r.volume

    def cancel(self, broker_order_id: str) -> int:
        if not self._connected:
            return CANCEL_NOT_CONNECTED
        if broker_order_id not in self.orders:
            return CANCEL_NOT_FOUND
        if self.orders[broker_order_id].report.status in _FINISHED:
            return CANCEL_FINISHED
        self._cancel_rest(broker_order_id)
        return CANCEL_OK

    def _cancel_rest(self, oid: str) -> None:
        order = self.orders[oid]
        r = order.report
        self._release(order)
        order.report = replace(r, status=53 if r.filled_volume else 54)
        self.handler.on_order(order.report)

    def _release(self, order: _Order) -> None:
        r = order.report
        if r.side == "buy":
            self.frozen_cash -= order.frozen_cash
            order.frozen_cash = 0.0
        elif r.symbol in self.holdings:
            self.holdings[r.symbol].frozen -= r.volume - r.filled_volume

    # -- matching ------------------------------------------------------------------------------------------
    def advance(self, to: pd.Timestamp) -> int:
        """Match open orders minute by minute up to the session state at ``to``; returns the fills made."""
        if self.day is None:
            raise GatewayError("simulated broker has no session; call start_day(day) first")
        done = intraday.bars_done(pd.Timestamp(to)) or 0
        live = [o for o in self.orders.values() if o.report.status in (50, 55)]
        made = 0
        if live and done > self.minute:
            book = self.feed.day(self.day, [o.report.symbol for o in live])
            col = {s: i for i, s in enumerate(book.symbols)}
            for m in range(self.minute + 1, done + 1):
                for order in live:
                    if order.start_minute <= m and order.report.status in (50, 55):
                        made += self._match(order, book, col[order.report.symbol], m)
                        if order.report.price_type == "market" and order.report.status in (50, 55):
                            self._cancel_rest(order.report.broker_order_id)  # immediate or cancel
        self.minute = max(self.minute, done)
        return made

    def _match(self, order: _Order, book, j: int, m: int) -> int:
        r = order.report
        price = book.close[m - 1, j]
        if not np.isfinite(price):
            return 0
        buy = r.side == "buy"
        if buy and (to_cents(price) > to_cents(r.price) or at_or_beyond(price, book.limit_up[j], upper=True)):
            return 0
        if not buy and (to_cents(price) < to_cents(r.price) or at_or_beyond(price, book.limit_down[j], upper=False)):
            return 0
        step = lot_rule(r.symbol)[1]
        cap = int(np.floor(self.participation * book.volume[m - 1, j] / step) * step)
        volume = min(r.volume - r.filled_volume, cap)
        if volume <= 0:
            return 0
        self._fill(order, volume, float(to_cents(price)) / 100.0, m)
        return 1

    def _fill(self, order: _Order, volume: int, price: float, minute: int) -> None:
        r = order.report
        buy = r.side == "buy"
        value = volume * price
        fee = round(self.fees.order_cost(value, self.day, sell=not buy), 2)
        h = self.holdings.setdefault(r.symbol, _Holding())
        if buy:
            h.cost += value + fee
            h.volume += volume
            self.cash -= value + fee
            released = order.frozen_cash * volume / (r.volume - r.filled_volume)
            order.frozen_cash -= released
            self.frozen_cash -= released
        else:
            h.cost -= h.cost * volume / h.volume
            h.volume -= volume
            h.sellable -= volume
            h.frozen -= volume
            self.cash += value - fee
        filled = r.filled_volume + volume
        order.report = replace(r, filled_volume=filled, status=56 if filled == r.volume else 55)
        at = intraday.state_time(self.day, minute)
        trade = BrokerTrade(f"{r.broker_order_id}-T{len(order.fills) + 1}", r.broker_order_id, r.remark, r.symbol,
                            r.side, volume, price, fee, at.isoformat())
        order.fills.append(trade)
        self.trades.append(trade)
        draw = self.rng.random(2)
        if draw[0] < self.faults.lost_trade:
            self.injected["lost_trade"] += 1
        else:
            self.handler.on_trade(trade)
            if draw[1] < self.faults.duplicate_trade:
                self.injected["duplicate_trade"] += 1
                self.handler.on_trade(trade)
        self.handler.on_order(order.report)

    # -- queries -------------------------------------------------------------------------------------------
    def _require(self) -> None:
        if not self._connected:
            raise GatewayError(f"account {self.account_id}: not connected; connect() before querying")

    def query_cash(self) -> float:
        self._require()
        return self.cash

    def query_positions(self) -> dict[str, Position]:
        self._require()
        return {s: Position(s, h.volume, h.sellable, h.cost / h.volume if h.volume else 0.0)
                for s, h in sorted(self.holdings.items()) if h.volume > 0}

    def query_orders(self) -> list[BrokerOrder]:
        self._require()
        return [o.report for o in self.orders.values()]

    def query_trades(self) -> list[BrokerTrade]:
        self._require()
        return list(self.trades)


# -- paper account state across processes -------------------------------------------------------------------
def save_state(broker: SimulatedBroker, path: Path) -> None:
    """Write the paper account (cash, holdings, today's orders and trades, clock, generator) as JSON, atomically:
    a CLI `run` and a later `status`/`reconcile` are separate processes talking to the same paper broker."""
    state = {
        "account_id": broker.account_id, "cash": broker.cash, "frozen_cash": broker.frozen_cash,
        "holdings": {s: asdict(h) for s, h in broker.holdings.items()},
        "orders": [{"report": asdict(o.report), "frozen_cash": o.frozen_cash, "start_minute": o.start_minute,
                    "fills": [asdict(t) for t in o.fills]} for o in broker.orders.values()],
        "day": None if broker.day is None else f"{broker.day:%Y-%m-%d}", "minute": broker.minute, "seq": broker._seq,
        "rng": broker.rng.bit_generator.state,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state))
    tmp.replace(path)


def load_state(path: Path, feed: MinuteFeed, **kwargs) -> SimulatedBroker:
    """The paper broker saved by `save_state` (disconnected, reports going nowhere until a handler is set)."""
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise GatewayError(f"cannot read the paper account {path}: {exc}; delete it to start the account over") from exc
    broker = SimulatedBroker(feed, account_id=state["account_id"], cash=state["cash"], **kwargs)
    broker.frozen_cash = state["frozen_cash"]
    broker.holdings = {s: _Holding(**h) for s, h in state["holdings"].items()}
    for o in state["orders"]:
        fills = [BrokerTrade(**t) for t in o["fills"]]
        order = _Order(BrokerOrder(**o["report"]), o["frozen_cash"], o["start_minute"], fills)
        broker.orders[order.report.broker_order_id] = order
        broker.trades.extend(fills)
    broker.trades.sort(key=lambda t: (t.traded_at, t.trade_id))
    broker.day = None if state["day"] is None else pd.Timestamp(state["day"])
    broker.minute, broker._seq = state["minute"], state["seq"]
    broker.rng.bit_generator.state = state["rng"]
    return broker

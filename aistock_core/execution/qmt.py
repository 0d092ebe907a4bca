"""`QmtGateway`: the `Gateway` over miniQMT's ``xtquant.xttrader.XtQuantTrader`` (the ``qmt`` extra, Windows).

Facts it relies on (DESIGN §11): ``order_stock_async(account, code, order_type, volume, price_type, price,
strategy_name, order_remark)`` returns a seq (< 0: not sent) and the order id arrives later in
``on_order_stock_async_response(XtOrderResponse(.., order_id, .., seq))``; order_type 23 buy / 24 sell; price type
11 fixed price, 42–48 market types (`price_type_of`); ``cancel_order_stock`` → 0 ok, −1 finished, −2 not found, −3
not logged in; order_status 48–57 and 255 (`aistock_core.execution.states.QMT_STATUS`); callbacks run one at a time
on one thread; a new trader needs a fresh session id, then ``start()``, ``connect()`` (0 ok) and
``subscribe(account)`` (0 ok); some brokers re-push every report after a reconnect, so trade reports are
deduplicated here by ``traded_id`` (and again by the store).

xtquant's trade reports carry no fees, so each fill's fee is estimated with `AshareFees` (the account's real
commission rates belong in the instance's fee schedule; cash reconciliation shows any difference).
"""

from __future__ import annotations

import importlib
import itertools
import threading
from typing import Any

import pandas as pd

from aistock_core.errors import GatewayError
from aistock_core.execution.domain import BrokerOrder, BrokerTrade, Position
from aistock_core.execution.gateway import AckLost, Gateway, OrderNotSent, OrderRequest
from aistock_core.trading.fees import AshareFees

STOCK_BUY, STOCK_SELL, FIX_PRICE = 23, 24, 11
#: Market price types "best five levels, rest canceled" (SH incl. STAR: 42; SZ incl. ChiNext: 47); miniQMT's
#: market types are 42–48. On STAR and ChiNext the order's ``price`` is the exchange's protection price.
MARKET_SH_CONVERT_5_CANCEL, MARKET_SZ_CONVERT_5_CANCEL = 42, 47
MARKET_TYPES = range(42, 49)


def price_type_of(request: OrderRequest) -> int:
    """miniQMT's price type for a request: fixed price, or the exchange's market type with protection."""
    if request.price_type == "limit":
        return FIX_PRICE
    return MARKET_SH_CONVERT_5_CANCEL if request.symbol.endswith(".SH") else MARKET_SZ_CONVERT_5_CANCEL
_SESSIONS = itertools.count(int(pd.Timestamp.now().timestamp()) % 1_000_000)


def _xtquant() -> tuple[Any, Any]:
    try:
        return importlib.import_module("xtquant.xttrader"), importlib.import_module("xtquant.xttype")
    except ImportError as exc:
        raise GatewayError("xtquant is not installed: the qmt gateway needs miniQMT and `pip install "
                           "aistock-pipelines[qmt]` on Windows") from exc


class QmtGateway(Gateway):
    """One miniQMT account. ``path``: the userdata_mini directory of the running miniQMT client."""

    def __init__(self, path: str, account_id: str, day: pd.Timestamp, *, ack_timeout_s: float = 5.0,
                 fees: AshareFees | None = None) -> None:
        super().__init__()
        self.path, self.account_id, self.day = path, account_id, pd.Timestamp(day).normalize()
        self.ack_timeout_s = ack_timeout_s
        self.fees = fees or AshareFees()
        self._xttrader, xttype = _xtquant()
        self.account = xttype.StockAccount(account_id)
        self.trader = None
        self._connected = False
        self._acks: dict[int, int] = {}
        self._ack_events: dict[int, threading.Event] = {}
        self._seen_trades: set[str] = set()
        self._lock = threading.Lock()

    # -- session -------------------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._connected

    def connect(self) -> None:
        """A new trader with a fresh session id, started, connected and subscribed (what a reconnect needs)."""
        trader = self._xttrader.XtQuantTrader(self.path, next(_SESSIONS))
        trader.register_callback(_Callback(self))
        trader.start()
        if trader.connect() != 0:
            raise GatewayError(f"miniQMT at {self.path} refused the connection; is the client running and logged in?")
        if trader.subscribe(self.account) != 0:
            raise GatewayError(f"miniQMT could not subscribe account {self.account_id}; check the account id")
        self.trader, self._connected = trader, True

    def _require(self) -> None:
        if not self._connected:
            raise GatewayError(f"qmt account {self.account_id}: not connected; connect() first")

    # -- orders --------------------------------------------------------------------------------------------
    def submit(self, request: OrderRequest) -> str:
        if not self._connected:
            raise OrderNotSent(f"qmt account {self.account_id}: not connected; order {request.remark} not sent")
        side = STOCK_BUY if request.side == "buy" else STOCK_SELL
        # No lock around the call: the response may arrive on the callback thread before it returns (and a
        # synchronous stand-in answers inside it); `_acknowledge` creates the seq's event if it comes first.
        seq = self.trader.order_stock_async(self.account, request.symbol, side, int(request.volume),
                                            price_type_of(request), float(request.price), "aistock", request.remark)
        if seq < 0:
            raise OrderNotSent(f"miniQMT refused order {request.remark} (seq {seq})")
        with self._lock:
            event = self._ack_events.setdefault(seq, threading.Event())
        if not event.wait(self.ack_timeout_s):
            raise AckLost(f"miniQMT: no async response for order {request.remark} (seq {seq}) in "
                          f"{self.ack_timeout_s}s")
        with self._lock:
            order_id = self._acks.pop(seq)
            del self._ack_events[seq]
        if order_id < 0:
            raise OrderNotSent(f"miniQMT failed order {request.remark} (order id {order_id})")
        return str(order_id)

    def _acknowledge(self, seq: int, order_id: int) -> None:
        with self._lock:
            self._acks[seq] = order_id
            self._ack_events.setdefault(seq, threading.Event()).set()

    def cancel(self, broker_order_id: str) -> int:
        if not self._connected:
            return -3
        return int(self.trader.cancel_order_stock(self.account, int(broker_order_id)))

    # -- translation ---------------------------------------------------------------------------------------
    @staticmethod
    def order_of(o) -> BrokerOrder:
        return BrokerOrder(str(o.order_id), o.order_remark, o.stock_code, "buy" if o.order_type == STOCK_BUY else
                           "sell", int(o.order_volume), float(o.price), int(o.order_status), int(o.traded_volume),
                           getattr(o, "status_msg", "") or "", "market" if o.price_type in MARKET_TYPES else "limit")

    def trade_of(self, t) -> BrokerTrade:
        value = float(t.traded_volume) * float(t.traded_price)
        sell = t.order_type == STOCK_SELL
        fee = round(self.fees.order_cost(value, self.day, sell=sell), 2)
        return BrokerTrade(str(t.traded_id), str(t.order_id), t.order_remark, t.stock_code, "sell" if sell else "buy",
                           int(t.traded_volume), float(t.traded_price), fee, str(t.traded_time))

    def first_report(self, trade) -> bool:
        """Whether a trade report is new (re-pushed reports after a reconnect are dropped here)."""
        with self._lock:
            if str(trade.traded_id) in self._seen_trades:
                return False
            self._seen_trades.add(str(trade.traded_id))
            return True

    # -- queries -------------------------------------------------------------------------------------------
    def query_cash(self) -> float:
        self._require()
        return float(self.trader.query_stock_asset(self.account).cash)

    def query_positions(self) -> dict[str, Position]:
        self._require()
        return {p.stock_code: Position(p.stock_code, int(p.volume), int(p.can_use_volume), float(p.avg_price))
                for p in self.trader.query_stock_positions(self.account) if p.volume > 0}

    def query_orders(self) -> list[BrokerOrder]:
        self._require()
        return [self.order_of(o) for o in self.trader.query_stock_orders(self.account)]

    def query_trades(self) -> list[BrokerTrade]:
        self._require()
        return [self.trade_of(t) for t in self.trader.query_stock_trades(self.account)]


class _Callback:
    """xtquant's callback set (``XtQuantTraderCallback`` method names), forwarded to the gateway's handler."""

    def __init__(self, gateway: QmtGateway) -> None:
        self.gateway = gateway

    def on_disconnected(self) -> None:
        self.gateway._connected = False
        self.gateway.handler.on_disconnected()

    def on_account_status(self, status) -> None:
        """Account login state changes; nothing to do until a query fails."""

    def on_stock_order(self, order) -> None:
        self.gateway.handler.on_order(self.gateway.order_of(order))

    def on_stock_trade(self, trade) -> None:
        if self.gateway.first_report(trade):
            self.gateway.handler.on_trade(self.gateway.trade_of(trade))

    def on_order_error(self, order_error) -> None:
        """A failed order: the status report (57) carries the state; the error text is in ``status_msg``."""

    def on_cancel_error(self, cancel_error) -> None:
        """A failed cancel: the order's state is unchanged; reconciliation reads it."""

    def on_order_stock_async_response(self, response) -> None:
        self.gateway._acknowledge(int(response.seq), int(response.order_id))

"""``XtQuantTrader`` and ``XtQuantTraderCallback`` with xtquant's signatures, driven by a simulated broker.

Real behaviour mirrored: ``order_stock_async`` returns a seq at once and the order id arrives in
``on_order_stock_async_response``; order ids are ints; a failed submission answers with order id −1;
``cancel_order_stock`` returns 0 / −1 (finished) / −2 (not found) / −3 (not connected); ``connect`` and
``subscribe`` return 0 on success; status and trade reports arrive as ``on_stock_order``/``on_stock_trade``.
"""

from __future__ import annotations

import itertools

import pandas as pd

from aistock_core.execution.gateway import AckLost, GatewayHandler, OrderNotSent, OrderRequest
from xtquant import xtconstant
from xtquant.xttype import XtAsset, XtOrder, XtOrderResponse, XtPosition, XtTrade

#: account id → the SimulatedBroker standing in for the miniQMT client's account.
BACKENDS: dict = {}


class XtQuantTraderCallback:
    def on_disconnected(self): ...
    def on_account_status(self, status): ...
    def on_stock_order(self, order): ...
    def on_stock_trade(self, trade): ...
    def on_order_error(self, order_error): ...
    def on_cancel_error(self, cancel_error): ...
    def on_order_stock_async_response(self, response): ...


class _Bridge(GatewayHandler):
    """Simulated-broker reports → xtquant callbacks (string ids → int order ids)."""

    def __init__(self, trader: XtQuantTrader) -> None:
        self.trader = trader

    def on_order(self, order) -> None:
        self.trader.callback.on_stock_order(self.trader.xt_order(order))

    def on_trade(self, trade) -> None:
        self.trader.callback.on_stock_trade(self.trader.xt_trade(trade))

    def on_disconnected(self) -> None:
        self.trader.callback.on_disconnected()


class XtQuantTrader:
    def __init__(self, path: str, session: int, callback=None) -> None:
        self.path, self.session = path, session
        self.callback = callback or XtQuantTraderCallback()
        self.broker = None
        self._seq = itertools.count(1)
        self._ids: dict[str, int] = {}

    def register_callback(self, callback) -> None:
        self.callback = callback

    def start(self) -> None:
        pass

    def connect(self) -> int:
        return 0

    def subscribe(self, account) -> int:
        broker = BACKENDS.get(account.account_id)
        if broker is None:
            return -1
        self.broker = broker
        broker.set_handler(_Bridge(self))
        broker.connect()
        return 0

    def _int_id(self, oid: str) -> int:
        return self._ids.setdefault(oid, int(oid.rsplit("-", 1)[1]))

    def xt_order(self, o) -> XtOrder:
        return XtOrder(self.broker.account_id, o.symbol, self._int_id(o.broker_order_id), o.broker_order_id, 0,
                       xtconstant.STOCK_BUY if o.side == "buy" else xtconstant.STOCK_SELL, o.volume,
                       xtconstant.FIX_PRICE if o.price_type == "limit" else self._market_type(o.symbol), o.price,
                       o.filled_volume, 0.0, o.status, o.message, "aistock", o.remark)

    @staticmethod
    def _market_type(code: str) -> int:
        return xtconstant.MARKET_SH_CONVERT_5_CANCEL if code.endswith(".SH") else xtconstant.MARKET_SZ_CONVERT_5_CANCEL

    def xt_trade(self, t) -> XtTrade:
        return XtTrade(self.broker.account_id, t.symbol, xtconstant.STOCK_BUY if t.side == "buy" else
                       xtconstant.STOCK_SELL, t.trade_id, int(pd.Timestamp(t.traded_at).timestamp()), t.price,
                       t.volume, t.volume * t.price, self._int_id(t.broker_order_id), t.broker_order_id, "aistock",
                       t.remark)

    def order_stock_async(self, account, stock_code, order_type, order_volume, price_type, price, strategy_name,
                          order_remark) -> int:
        seq = next(self._seq)
        side = "buy" if order_type == xtconstant.STOCK_BUY else "sell"
        kind = "limit" if price_type == xtconstant.FIX_PRICE else "market"
        try:
            oid = self.broker.submit(OrderRequest(stock_code, side, order_volume, price, order_remark, kind))
        except OrderNotSent as exc:
            self.callback.on_order_stock_async_response(XtOrderResponse(account.account_id, -1, strategy_name,
                                                                        order_remark, str(exc), seq))
            return seq
        except AckLost:
            return seq  # the order is live at the broker; the response never comes
        self.callback.on_order_stock_async_response(XtOrderResponse(account.account_id, self._int_id(oid),
                                                                    strategy_name, order_remark, "", seq))
        return seq

    def cancel_order_stock(self, account, order_id: int) -> int:
        by_int = {v: k for k, v in self._ids.items()}
        return self.broker.cancel(by_int.get(order_id, f"missing-{order_id}"))

    def query_stock_asset(self, account) -> XtAsset:
        cash = self.broker.query_cash()
        return XtAsset(account.account_id, cash, self.broker.frozen_cash, 0.0, cash)

    def query_stock_positions(self, account) -> list[XtPosition]:
        return [XtPosition(account.account_id, p.symbol, p.volume, p.sellable, p.avg_price, 0.0, p.avg_price)
                for p in self.broker.query_positions().values()]

    def query_stock_orders(self, account, cancelable_only: bool = False) -> list[XtOrder]:
        return [self.xt_order(o) for o in self.broker.query_orders()]

    def query_stock_trades(self, account) -> list[XtTrade]:
        return [self.xt_trade(t) for t in self.broker.query_trades()]

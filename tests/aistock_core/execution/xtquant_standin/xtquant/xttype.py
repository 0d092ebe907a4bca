"""The record types of ``xtquant.xttype`` (field names as in xtquant)."""

from dataclasses import dataclass


class StockAccount:
    def __init__(self, account_id: str, account_type: str = "STOCK") -> None:
        self.account_id, self.account_type = account_id, account_type


@dataclass
class XtAsset:
    account_id: str
    cash: float
    frozen_cash: float
    market_value: float
    total_asset: float


@dataclass
class XtPosition:
    account_id: str
    stock_code: str
    volume: int
    can_use_volume: int
    open_price: float
    market_value: float
    avg_price: float


@dataclass
class XtOrder:
    account_id: str
    stock_code: str
    order_id: int
    order_sysid: str
    order_time: int
    order_type: int
    order_volume: int
    price_type: int
    price: float
    traded_volume: int
    traded_price: float
    order_status: int
    status_msg: str
    strategy_name: str
    order_remark: str


@dataclass
class XtTrade:
    account_id: str
    stock_code: str
    order_type: int
    traded_id: str
    traded_time: int
    traded_price: float
    traded_volume: int
    traded_amount: float
    order_id: int
    order_sysid: str
    strategy_name: str
    order_remark: str


@dataclass
class XtOrderResponse:
    account_id: str
    order_id: int
    strategy_name: str
    order_remark: str
    error_msg: str
    seq: int

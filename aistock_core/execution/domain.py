"""Plain value types shared by the planner, the risk engine, the gateways and the store.

Orders here are one object per order (not the arrays of `aistock_core.trading.orders`): a live order run handles
tens to a few hundred orders, each with its own life at the broker, and every one is persisted and reconciled
individually.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Position:
    """One holding at the broker: ``sellable`` is what T+1 lets us sell today."""

    symbol: str
    volume: int
    sellable: int
    avg_price: float = 0.0


@dataclass(frozen=True)
class AccountSnapshot:
    """Cash and positions read from the gateway in one call (the broker is the truth)."""

    cash: float
    positions: dict[str, Position] = field(default_factory=dict)

    def volume(self, symbol: str) -> int:
        pos = self.positions.get(symbol)
        return pos.volume if pos else 0

    def sellable(self, symbol: str) -> int:
        pos = self.positions.get(symbol)
        return pos.sellable if pos else 0

    def equity(self, prices: dict[str, float]) -> float:
        """Cash plus positions marked at ``prices`` (a missing price marks at the average cost)."""
        return self.cash + sum(p.volume * prices.get(s, p.avg_price) for s, p in self.positions.items())


@dataclass(frozen=True)
class PlannedOrder:
    """An order the planner wants, before risk: ``reason`` says why (rebalance, split by participation, stop
    loss); ``price_type`` ``limit``, or ``market`` with ``price`` its protection price."""

    intent_key: str
    remark: str
    symbol: str
    side: str
    volume: int
    price: float
    limit_up: float
    limit_down: float
    reason: str = "rebalance"
    price_type: str = "limit"

    @property
    def value(self) -> float:
        return self.volume * self.price


@dataclass(frozen=True)
class Skipped:
    """A name the planner left alone, and why (suspended, sealed at a limit, no quote, rounds to zero)."""

    symbol: str
    side: str
    reason: str


@dataclass(frozen=True)
class BrokerOrder:
    """An order as the broker reports it; ``status`` is the broker's code (miniQMT 48–57, 255)."""

    broker_order_id: str
    remark: str
    symbol: str
    side: str
    volume: int
    price: float
    status: int
    filled_volume: int = 0
    message: str = ""
    price_type: str = "limit"


@dataclass(frozen=True)
class BrokerTrade:
    """One trade report (a fill); ``trade_id`` is the broker's, unique per account, the key fills dedupe on."""

    trade_id: str
    broker_order_id: str
    remark: str
    symbol: str
    side: str
    volume: int
    price: float
    fee: float
    traded_at: str

"""The broker gateway interface: one contract for the simulated broker and miniQMT.

Submission is the dangerous call, so its failures are split by what we know afterwards:

* `OrderNotSent` — the order certainly did not reach the broker (disconnected, the API returned −1): the order
  may be marked rejected at once.
* `AckLost` — it may or may not have arrived (timeout, crash of the link): the order stays ``submitted`` and
  reconciliation (by the order's remark) decides; it is never sent again.

Reports arrive through a `GatewayHandler` (miniQMT runs callbacks one at a time on one thread); they may be
duplicated or lost, so the store deduplicates trades by id and reconciliation re-reads orders and trades.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from aistock_core.errors import GatewayError
from aistock_core.execution.domain import AccountSnapshot, BrokerOrder, BrokerTrade, Position

#: `Gateway.cancel` results (miniQMT ``cancel_order_stock``): 0 accepted, −1 already finished, −2 not found,
#: −3 not connected.
CANCEL_OK, CANCEL_FINISHED, CANCEL_NOT_FOUND, CANCEL_NOT_CONNECTED = 0, -1, -2, -3


class OrderNotSent(GatewayError):
    """The broker certainly did not receive the order."""


class AckLost(GatewayError):
    """The order may have reached the broker, but no acknowledgement came back."""


@dataclass(frozen=True)
class OrderRequest:
    """An order to send; ``remark`` (≤ 24 chars) is the intent's digest, how we find it again. A ``market`` order's
    ``price`` is its protection price: it fills at the market but never beyond it, the rest is canceled."""

    symbol: str
    side: str
    volume: int
    price: float
    remark: str
    price_type: str = "limit"


class GatewayHandler:
    """Receives reports; the default ignores them (subclass what you need)."""

    def on_order(self, order: BrokerOrder) -> None:
        """A status change of an order."""

    def on_trade(self, trade: BrokerTrade) -> None:
        """A fill (may be re-pushed: deduplicate by ``trade_id``)."""

    def on_disconnected(self) -> None:
        """The link dropped; reconnect and reconcile before trading on."""


class Gateway(ABC):
    """Submit, cancel, query and report: what an order run needs from any broker."""

    account_id: str

    def __init__(self) -> None:
        self.handler = GatewayHandler()

    def set_handler(self, handler: GatewayHandler) -> None:
        self.handler = handler

    @property
    @abstractmethod
    def connected(self) -> bool: ...

    @abstractmethod
    def connect(self) -> None:
        """Open (or re-open) the session; raises `GatewayError` when the broker does not answer."""

    @abstractmethod
    def submit(self, request: OrderRequest) -> str:
        """Send a limit order; the broker's order id ("sent", not "accepted"). Raises `OrderNotSent`/`AckLost`."""

    @abstractmethod
    def cancel(self, broker_order_id: str) -> int:
        """Ask to cancel; one of the ``CANCEL_*`` codes."""

    @abstractmethod
    def query_cash(self) -> float: ...

    @abstractmethod
    def query_positions(self) -> dict[str, Position]: ...

    @abstractmethod
    def query_orders(self) -> list[BrokerOrder]:
        """Today's orders of the account."""

    @abstractmethod
    def query_trades(self) -> list[BrokerTrade]:
        """Today's trades of the account."""

    def snapshot(self) -> AccountSnapshot:
        """Cash and positions in one consistent view (the broker is the truth)."""
        if not self.connected:
            raise GatewayError(f"gateway for account {self.account_id} is not connected; connect before querying")
        return AccountSnapshot(cash=self.query_cash(), positions=self.query_positions())

"""Orders and fills as plain array types, with the codes that say why an order was placed and what became of it.

One day's orders are a handful of arrays over instruments (not one object per order) so a backtest day, a
preview account's rebalance or a risk check is a few numpy operations. Instruments are column indexes into the
caller's instrument list; amounts are in the venue's unit (shares for A-share venues, Qlib's adjusted amount in
Qlib mode).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Why an order was placed or a position left; orders and fills carry the index into this tuple.
REASONS: tuple[str, ...] = (
    "topk_dropout",  # 0: TopkDropout rotation
    "rebalance",  # 1: weight strategies moving to target
    "stop_loss",  # 2
    "take_profit",  # 3
    "not_in_candidates",  # 4: Enhanced strategy liquidation (left the top-k or score < min_score)
    "delisting",  # 5: forced sale on the last listed session
    "delisted_writeoff",  # 6: position booked out at the last price (could not be sold before delisting)
    "entry",  # 7: buys opening or adding to a position
)
REASON_CODE = {name: i for i, name in enumerate(REASONS)}

#: What happened to an order; fills carry the index into this tuple (strings only when frames are built).
STATUSES: tuple[str, ...] = (
    "filled",
    "refused: price limit or suspended",  # Qlib mode (Qlib does not tell the two apart)
    "refused: rounds to zero",
    "refused: cash cannot cover the cost",
    "refused: not enough cash",
    "refused: T+1 (shares bought today)",
    "refused: not held",
    "refused: limit down",
    "refused: limit up",
    "refused: suspended",
    "refused: delisting",
)
STATUS_CODE = {name: i for i, name in enumerate(STATUSES)}
_STATUS_TEXT = np.asarray(STATUSES, dtype=object)


def _int_array(values: object = ()) -> np.ndarray:
    return np.asarray(values, dtype=np.int64).reshape(-1)


@dataclass
class Orders:
    """One day's orders: sells are executed first (in order), then buys (in order), as Qlib's executor does."""

    sell_idx: np.ndarray = field(default_factory=_int_array)
    sell_amount: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sell_reason: np.ndarray = field(default_factory=_int_array)
    buy_idx: np.ndarray = field(default_factory=_int_array)
    buy_amount: np.ndarray = field(default_factory=lambda: np.zeros(0))
    buy_reason: np.ndarray = field(default_factory=_int_array)


@dataclass
class Fills:
    """What a venue did with a list of orders on one day (arrays over the orders, zero deals included).

    ``cost`` is everything the order cost beyond its value: fees, and on A-share sells the dividend tax due.
    """

    idx: np.ndarray
    amount: np.ndarray  # dealt amount in the venue's unit (0 when refused or clipped to nothing)
    price: np.ndarray
    value: np.ndarray
    cost: np.ndarray
    reason: np.ndarray
    status: np.ndarray  # int codes into STATUSES (0: filled)

    @classmethod
    def none(cls) -> Fills:
        z = np.zeros(0)
        return cls(_int_array(), z, z, z, z, _int_array(), _int_array())

    def status_text(self) -> np.ndarray:
        return _STATUS_TEXT[self.status]

    def net_cash(self) -> np.ndarray:
        return self.value - self.cost

    def concat(self, other: Fills) -> Fills:
        """These fills followed by ``other``'s."""
        return Fills(*(np.concatenate([getattr(self, f), getattr(other, f)]) for f in
                       ("idx", "amount", "price", "value", "cost", "reason", "status")))

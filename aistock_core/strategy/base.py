"""The pieces every strategy and both backtest modes share: the account state, an order batch, the exchange
interface a strategy talks to, and pandas' exact sort order.

Why one account as flat (instrument,) arrays instead of Qlib's dict of dicts: a day's decisions and fills then
become a handful of numpy operations over instruments, and the same strategy code runs against the Qlib-exact
exchange and the A-share exchange (`Exchange` below), which is what makes "same decisions, different market
rules" comparisons meaningful.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

import numpy as np

Direction = Literal["any", "buy", "sell"]

#: Why an order was placed or a position left; trades carry the index into this tuple.
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


@dataclass
class Account:
    """Cash and per-instrument holdings (arrays of length N, aligned to the market's instruments).

    ``amount`` is in the exchange's unit: Qlib mode holds *adjusted* amounts (shares ÷ factor, as Qlib does),
    A-share mode holds real shares. ``held`` mirrors Qlib's "the code is a key of the position dict" (a code
    stays held with a stale price while suspended or after delisting). ``count`` = bars held (Qlib's
    ``count_day``), ``sellable`` = shares owned at the start of the day (T+1).
    """

    cash: float
    amount: np.ndarray
    held: np.ndarray
    price: np.ndarray
    count: np.ndarray
    entry_price: np.ndarray
    tp_base: np.ndarray
    sellable: np.ndarray
    total_cost: float = 0.0
    total_turnover: float = 0.0

    @classmethod
    def empty(cls, n: int, cash: float) -> Account:
        return cls(
            cash=float(cash),
            amount=np.zeros(n),
            held=np.zeros(n, dtype=bool),
            price=np.full(n, np.nan),
            count=np.zeros(n, dtype=np.int64),
            entry_price=np.full(n, np.nan),
            tp_base=np.full(n, np.nan),
            sellable=np.zeros(n),
        )

    def copy(self) -> Account:
        """A deep copy (Qlib's strategies deal sells on a copy to learn the cash they free)."""
        return replace(
            self,
            amount=self.amount.copy(),
            held=self.held.copy(),
            price=self.price.copy(),
            count=self.count.copy(),
            entry_price=self.entry_price.copy(),
            tp_base=self.tp_base.copy(),
            sellable=self.sellable.copy(),
        )

    def stock_value(self) -> float:
        idx = np.flatnonzero(self.held)
        return float(np.sum(self.amount[idx] * self.price[idx]))

    def value(self) -> float:
        return self.stock_value() + self.cash


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
    """What an exchange did with a list of orders on one day (arrays over the orders, zero deals included)."""

    idx: np.ndarray
    amount: np.ndarray  # dealt amount in the exchange's unit (0 when refused or clipped to nothing)
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


class Exchange(Protocol):
    """What a strategy may ask of the market on trade day ``t`` (implemented by both backtest modes)."""

    def deal_price(self, t: int) -> np.ndarray: ...

    def tradable(self, t: int, direction: Direction) -> np.ndarray: ...

    def has_quote(self, t: int) -> np.ndarray: ...

    def change(self, t: int) -> np.ndarray: ...

    def round_buy(self, t: int, idx: np.ndarray, amount: np.ndarray) -> np.ndarray: ...

    def to_exchange_amount(self, t: int, idx: np.ndarray, shares: np.ndarray) -> np.ndarray: ...

    def sell_proceeds(self, acc: Account, t: int, idx: np.ndarray, amount: np.ndarray) -> float: ...

    def sell(self, acc: Account, t: int, idx: np.ndarray, amount: np.ndarray, reason: np.ndarray) -> Fills: ...

    def buy(self, acc: Account, t: int, idx: np.ndarray, amount: np.ndarray, reason: np.ndarray) -> Fills: ...


@dataclass(frozen=True)
class DayContext:
    """Everything a strategy sees when deciding trade day ``t``: yesterday's scores and today's account."""

    t: int
    scores: np.ndarray  # (N,) scores of the previous session (NaN: no score)
    account: Account
    exchange: Exchange


class Strategy(Protocol):
    """Scores + holdings → the day's orders."""

    def decide(self, ctx: DayContext) -> Orders: ...


def nargsort_desc(values: np.ndarray) -> np.ndarray:
    """Positions of ``values`` sorted descending with NaN last: exactly pandas' ``sort_values(ascending=False)``.

    Qlib ranks with ``Series.sort_values``; pandas reverses, quicksorts and reverses again, which fixes how
    ties fall. Reproducing that (rather than ``np.argsort(-v)``) keeps tie-breaking identical to Qlib.
    """
    mask = np.isnan(values)
    idx = np.arange(len(values))
    non_nan_idx = idx[~mask][::-1]
    non_nans = values[~mask][::-1]
    indexer = non_nan_idx[non_nans.argsort(kind="quicksort")][::-1]
    return np.concatenate([indexer, idx[mask]])

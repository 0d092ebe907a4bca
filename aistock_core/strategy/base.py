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

    def close_positions(self, idx: np.ndarray) -> None:
        """Forget the holdings at ``idx`` (sold out): no amount, not held, no entry/take-profit memory."""
        self.amount[idx] = 0.0
        self.held[idx] = False
        self.count[idx] = 0
        self.entry_price[idx] = np.nan
        self.tp_base[idx] = np.nan
        self.price[idx] = np.nan


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
    """What a strategy may ask of the market on trade day ``t`` (implemented by both backtest modes).

    The arrays returned (prices, tradable/quoted masks, rounded amounts) are views of the exchange's
    precomputed grids, not per-call copies: read them, never write into them (the rule grids and rounded
    amounts are read-only and raise if written).
    """

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
    """Everything a strategy sees when deciding trade day ``t``: yesterday's scores and today's account.

    ``order``/``sort_key`` are the day's row of a `ScoreRanking` (the backtest ranks every session once, up
    front); they are None when the engine did not rank the day or its scores hold ties, and the ranking methods
    below then sort the subset themselves, as pandas would.
    """

    t: int
    scores: np.ndarray  # (N,) scores of the previous session (NaN: no score)
    account: Account
    exchange: Exchange
    order: np.ndarray | None = None  # scored columns, best first (only when all scores are distinct)
    sort_key: np.ndarray | None = None  # (N,) distinct keys, ascending = pandas' descending order, unscored last

    def has_scores(self) -> bool:
        """Qlib skips a day whose score series is empty: no decision at all."""
        if self.order is not None:
            return len(self.order) > 0
        return not np.isnan(self.scores).all()

    def ranked(self, mask: np.ndarray) -> np.ndarray:
        """Scored columns where ``mask`` holds, best first: pandas' ``sort_values(ascending=False)`` of them."""
        if self.order is not None:
            return self.order[mask[self.order]]
        cand = np.flatnonzero(mask & ~np.isnan(self.scores))
        return cand[nargsort_desc(self.scores[cand])]

    def sort_desc(self, idx: np.ndarray) -> np.ndarray:
        """``idx`` (any order) ranked as pandas ranks the column-sorted subset: best first, unscored last."""
        if self.sort_key is not None:
            return idx[np.argsort(self.sort_key[idx])]
        idx = np.sort(idx)
        return idx[nargsort_desc(self.scores[idx])]


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


@dataclass(frozen=True)
class ScoreRanking:
    """Every session's scores ranked once, for the whole (T, N) grid, so a day loop never sorts a full row.

    The sort key is ``-score``, and ``2**52 + column`` for an unscored column (after every score, in column
    order, as pandas puts NaN last in their original order). Where a row's keys are all distinct its order is
    unique, so ordering any subset by key is exactly what pandas' (unstable, reverse-quicksort) ``sort_values``
    gives that subset. Rows with a tie, or a score so low (≤ -2**52, -inf) that it would sort among the
    unscored, are flagged not ``distinct``: their days fall back to `nargsort_desc`, which reproduces pandas'
    tie-breaking. NaN never reaches the sort because numpy's vectorised argsort only takes its fast path on
    NaN-free rows (≈6× faster here).
    """

    order: np.ndarray  # (T, N) columns by descending score; only the first n_valid[t] are scored
    key: np.ndarray  # (T, N) the sort key above
    n_valid: np.ndarray  # (T,) scored columns per row
    distinct: np.ndarray  # (T,) the row's keys are pairwise distinct and scores sort before the unscored

    @classmethod
    def of(cls, grid: np.ndarray) -> ScoreRanking:
        grid = np.asarray(grid, dtype=np.float64)
        valid = ~np.isnan(grid)
        unscored = _UNSCORED + np.arange(grid.shape[1], dtype=np.float64)
        key = np.where(valid, -grid, unscored)
        order = np.argsort(key, axis=1)
        ranked = np.sort(key, axis=1)
        too_low = (valid & ~(key < _UNSCORED)).any(axis=1)
        distinct = ~((ranked[:, 1:] == ranked[:, :-1]).any(axis=1) | too_low)
        return cls(order=order, key=key, n_valid=valid.sum(axis=1), distinct=distinct)

    def day(self, row: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(order, sort_key) of one row for `DayContext`, or (None, None) when the row has ties."""
        if not self.distinct[row]:
            return None, None
        return self.order[row, : self.n_valid[row]], self.key[row]


#: Sort key of unscored columns (plus the column): exact integers above any realistic ``-score``.
_UNSCORED = float(2**52)

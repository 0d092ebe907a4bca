"""What a strategy sees and answers: the exchange interface it talks to, the day's context, the ranking of
scores in pandas' exact sort order. Accounts, orders and fills are the shared trading types
(`aistock_core.trading`); the same strategy code runs against the Qlib-exact exchange and the A-share one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from aistock_core.trading.account import Account
from aistock_core.trading.orders import Fills, Orders

Direction = Literal["any", "buy", "sell"]


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

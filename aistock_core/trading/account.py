"""An account as flat per-instrument arrays: cash, holdings with T+1 sellable volume, and a log of the credits
and debits that are not trades (corporate actions, dividend tax).

Why flat (instrument,) arrays instead of Qlib's dict of dicts: a day's decisions and fills become a handful of
numpy operations over instruments, and the same strategy code runs against the Qlib-exact exchange and the
A-share venues, which is what makes "same decisions, different market rules" comparisons meaningful.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import numpy as np
import pandas as pd

#: Kinds of account event (credits and debits that are not trades).
EVENT_KINDS: tuple[str, ...] = ("bonus_shares", "cash_dividend", "dividend_tax")


@dataclass(frozen=True)
class AccountEvents:
    """One kind of event on one day, for the instruments at ``idx``: shares and cash credited (negative: debited)."""

    day: pd.Timestamp
    kind: str
    idx: np.ndarray
    shares: np.ndarray
    cash: np.ndarray


@dataclass
class Account:
    """Cash and per-instrument holdings (arrays of length N, aligned to the market's instruments).

    ``amount`` is in the venue's unit: Qlib mode holds *adjusted* amounts (shares ÷ factor, as Qlib does),
    A-share venues hold real shares. ``held`` mirrors Qlib's "the code is a key of the position dict" (a code
    stays held with a stale price while suspended or after delisting). ``count`` = bars held (Qlib's
    ``count_day``), ``sellable`` = shares that may be sold today (T+1: owned at the open and listed).
    ``opened`` is the day the position was opened (dividend tax by holding period; adding to a position does not
    restart it, a simplification of the first-in-first-out rule) and ``dividend`` the cash dividends received on
    the current holding whose tax is still due on sale (a sale takes its pro-rata share).
    """

    cash: float
    amount: np.ndarray
    held: np.ndarray
    price: np.ndarray
    count: np.ndarray
    entry_price: np.ndarray
    tp_base: np.ndarray
    sellable: np.ndarray
    opened: np.ndarray
    dividend: np.ndarray
    total_cost: float = 0.0
    total_turnover: float = 0.0
    events: list[AccountEvents] = field(default_factory=list)

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
            opened=np.full(n, np.datetime64("NaT"), dtype="datetime64[D]"),
            dividend=np.zeros(n),
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
            opened=self.opened.copy(),
            dividend=self.dividend.copy(),
            events=list(self.events),
        )

    def take_state(self, other: Account) -> None:
        """Become ``other``, a `copy` of this account that has moved on (sells dealt on it to learn their cash):
        its arrays, cash, totals and events, taken over without another copy."""
        for f in fields(self):
            setattr(self, f.name, getattr(other, f.name))

    def close_positions(self, idx: np.ndarray) -> None:
        """Forget the holdings at ``idx`` (sold out): no amount, not held, no entry/take-profit memory."""
        self.amount[idx] = 0.0
        self.held[idx] = False
        self.count[idx] = 0
        self.entry_price[idx] = np.nan
        self.tp_base[idx] = np.nan
        self.price[idx] = np.nan
        self.opened[idx] = np.datetime64("NaT")
        self.dividend[idx] = 0.0

    def record(self, day: pd.Timestamp, kind: str, idx: np.ndarray, shares: np.ndarray, cash: np.ndarray) -> None:
        """Log a non-trade credit/debit (one `AccountEvents` per kind and day)."""
        if len(idx):
            self.events.append(AccountEvents(pd.Timestamp(day), kind, idx, shares, cash))

    def credit_actions(
        self, day: pd.Timestamp, cash: np.ndarray, bonus: np.ndarray, *, whole_shares: bool
    ) -> np.ndarray:
        """Credit the day's corporate actions to the holdings (``cash``/``bonus``: (N,) per share held).

        Bonus and transfer shares are added (rounded down to whole shares when ``whole_shares``: the exchange
        settles fractions separately), cash dividends are paid in and remembered for the tax due on sale, and
        the mark, entry and take-profit prices move to the ex-rights basis so the position's value and its
        stop/take-profit levels stay continuous. Returns the new shares per instrument (the caller keeps them
        unsellable until they are listed).
        """
        hit = self.held & (self.amount > 0) & ((cash != 0) | (bonus != 0))
        new = np.zeros(len(self.amount))
        if not hit.any():
            return new
        idx = np.flatnonzero(hit)
        shares = self.amount[idx]
        paid = shares * cash[idx]
        extra = shares * bonus[idx]
        if whole_shares:
            extra = np.floor(extra + 1e-9)
        new[idx] = extra
        self.amount[idx] = shares + extra
        self.cash += float(paid.sum())
        self.dividend[idx] += paid
        basis = 1.0 + bonus[idx]
        for prices in (self.price, self.entry_price, self.tp_base):
            prices[idx] = (prices[idx] - cash[idx]) / basis
        got_shares, got_cash = extra > 0, paid > 0
        self.record(day, "bonus_shares", idx[got_shares], extra[got_shares], np.zeros(int(got_shares.sum())))
        self.record(day, "cash_dividend", idx[got_cash], np.zeros(int(got_cash.sum())), paid[got_cash])
        return new

"""A-share mode: the rules a real account meets (DESIGN §7), in real shares and raw (unadjusted) prices.

* T+1: only shares owned at the open can be sold; cash from sales is usable for buys the same day.
* Price limits against the previous raw close (the provider's ``limit_up``/``limit_down`` when it has them,
  else ``aistock_core.codes.limit_rates``: main 10%, ChiNext/STAR 20%, BJ 30%, ST 5%), rounded to the tick;
  a close at the upper limit refuses buys, at the lower limit refuses sells. No limit on an IPO's first
  session (main board) or first five sessions (ChiNext, STAR, BJ).
* Lots: 100 shares (STAR: 200 minimum, then steps of 1); odd lots can only be sold when clearing a holding.
* Fees: commission with a 5-yuan minimum, stamp duty on sells (0.1% before 2023-08-28, 0.05% from then),
  transfer fee on both sides (`AshareFees`).
* Suspended stocks do not trade; a holding whose listing ends inside the window is sold on its last listed
  session when possible, else booked out at its last price the session after (reason ``delisted_writeoff``).
* Optional participation cap: at most ``participation × volume`` shares per order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from aistock_core.codes import Board, board_of, limit_rates, lot_rule
from aistock_core.errors import StrategyError
from aistock_core.strategy.backtest.costs import AshareFees
from aistock_core.strategy.backtest.market import MarketData, RuleGrids
from aistock_core.strategy.base import REASON_CODE, STATUS_CODE, Account, Fills

_TICK = 0.01
#: Sessions without a price limit after listing, by board (IPO rules since the 2020/2023 reforms).
_IPO_FREE = {Board.SH_MAIN: 1, Board.SZ_MAIN: 1, Board.CHINEXT: 5, Board.STAR: 5, Board.BJ: 1}


@dataclass(frozen=True)
class AshareConfig:
    fees: AshareFees = field(default_factory=AshareFees)
    participation: float | None = None

    def __post_init__(self) -> None:
        if self.participation is not None and not 0 < self.participation <= 1:
            raise StrategyError(f"participation cap must be in (0, 1], got {self.participation}")


class AshareExchange(RuleGrids):
    """Fills orders in real shares at the raw close under A-share rules (see module doc)."""

    def __init__(self, market: MarketData, config: AshareConfig) -> None:
        self.m = market
        self.cfg = config
        codes = list(market.instruments)
        self.price = market.raw_close
        self._susp = market.suspended | ~np.isfinite(self.price)
        prev = _ffill_prev(self.price)
        st = market.st if market.st is not None else np.zeros(self.price.shape, dtype=bool)
        base = limit_rates(codes)
        st_rate = limit_rates(codes, st=np.ones(len(codes), dtype=bool))
        rate = np.where(st, st_rate, base)
        up = np.round(prev * (1 + rate) + 1e-9, 2)
        down = np.round(prev * (1 - rate) + 1e-9, 2)
        if market.limit_up is not None:
            up = np.where(np.isnan(market.limit_up), up, market.limit_up)
        if market.limit_down is not None:
            down = np.where(np.isnan(market.limit_down), down, market.limit_down)
        age = np.cumsum(market.listed, axis=0)  # listed sessions so far (1 on the first)
        free = np.array([_IPO_FREE.get(board_of(c), 1) for c in codes])
        limited = age > free
        with np.errstate(invalid="ignore"):
            self._at_up = limited & (self.price >= up - _TICK / 2)
            self._at_down = limited & (self.price <= down + _TICK / 2)
        rules = np.array([lot_rule(c) for c in codes])
        self._min_lot, self._step = rules[:, 0].astype(float), rules[:, 1].astype(float)
        listed_any = market.listed.any(axis=0)
        last_row = len(market.dates) - 1 - np.argmax(market.listed[::-1], axis=0)
        self._last_row = np.where(listed_any, last_row, -1)
        self._delists = listed_any & (last_row < len(market.dates) - 1)
        # From its last listed session on, a delisting stock is not bought (it is being sold out of the book).
        self._exiting = self._delists[None, :] & (np.arange(len(market.dates))[:, None] >= self._last_row[None, :])
        self._raw_volume = market.volume * market.factor
        # The rules a strategy asks about, as read-only grids (a row view per call, no per-day masks).
        buy_ok = ~(self._susp | self._at_up | self._exiting)
        self._set_rule_grids(~self._susp, buy_ok, ~(self._susp | self._at_down), buy_ok & ~self._at_down)
        self._days = list(market.dates)  # boxed once: fee schedules compare dates per order batch

    # -- what strategies read ------------------------------------------------------------------------------
    def deal_price(self, t: int) -> np.ndarray:
        return self.price[t]

    def round_buy(self, t: int, idx: np.ndarray, amount: np.ndarray) -> np.ndarray:
        step, lot = self._step[idx], self._min_lot[idx]
        shares = np.floor(np.asarray(amount, dtype=float) / step + 1e-9) * step
        return np.where(shares >= lot, shares, 0.0)

    def to_exchange_amount(self, t: int, idx: np.ndarray, shares: np.ndarray) -> np.ndarray:
        return np.asarray(shares, dtype=float)

    def _cap(self, t: int, idx: np.ndarray, amount: np.ndarray) -> np.ndarray:
        if self.cfg.participation is None:
            return amount
        cap = np.nan_to_num(self._raw_volume[t, idx] * self.cfg.participation, nan=0.0)
        return np.minimum(amount, np.floor(cap / self._step[idx]) * self._step[idx])

    # -- fills ---------------------------------------------------------------------------------------------
    def sell_proceeds(self, acc: Account, t: int, idx: np.ndarray, amount: np.ndarray) -> float:
        """Cash after these sells (dealt on a copy: the account is not touched)."""
        probe = acc.copy()
        fills = self.sell(probe, t, idx, amount, np.zeros(len(idx), dtype=np.int64))
        return acc.cash + float(fills.net_cash().sum())

    def sell(self, acc: Account, t: int, idx: np.ndarray, amount: np.ndarray, reason: np.ndarray) -> Fills:
        idx = np.asarray(idx, dtype=np.int64)
        price = self.price[t, idx]
        held = np.where(acc.held[idx], acc.amount[idx], 0.0)
        sellable = np.minimum(acc.sellable[idx], held)
        want = np.minimum(np.asarray(amount, dtype=float), sellable)
        clearing = (np.abs(want - held) <= 1e-8 + 1e-5 * held) & (held > 0)
        step = self._step[idx]
        deal = np.where(clearing, held, np.floor(want / step + 1e-9) * step)
        capped = self._cap(t, idx, deal)
        deal = np.where(capped < deal, np.floor(capped / step + 1e-9) * step, deal)
        status = np.zeros(len(idx), dtype=np.int64)
        status[deal <= 0] = STATUS_CODE["refused: rounds to zero"]
        status[(sellable <= 0) & (held > 0)] = STATUS_CODE["refused: T+1 (shares bought today)"]
        status[held <= 0] = STATUS_CODE["refused: not held"]
        status[self._at_down[t, idx]] = STATUS_CODE["refused: limit down"]
        status[self._susp[t, idx]] = STATUS_CODE["refused: suspended"]
        deal = np.where(status == 0, deal, 0.0)
        value = deal * np.where(np.isnan(price), 0.0, price)
        cost = self.cfg.fees.cost(value, self._days[t], sell=True)
        self._book(acc, idx, deal, value, cost, price, sell=True)
        return Fills(idx, deal, price, value, cost, np.asarray(reason), status)

    def buy(self, acc: Account, t: int, idx: np.ndarray, amount: np.ndarray, reason: np.ndarray) -> Fills:
        idx = np.asarray(idx, dtype=np.int64)
        price = self.price[t, idx]
        deal = self.round_buy(t, idx, self._cap(t, idx, np.asarray(amount, dtype=float)))
        status = np.zeros(len(idx), dtype=np.int64)
        status[deal <= 0] = STATUS_CODE["refused: rounds to zero"]
        status[self._at_up[t, idx]] = STATUS_CODE["refused: limit up"]
        status[self._exiting[t, idx]] = STATUS_CODE["refused: delisting"]
        status[self._susp[t, idx]] = STATUS_CODE["refused: suspended"]
        deal = np.where(status == 0, deal, 0.0)
        value = deal * np.where(np.isnan(price), 0.0, price)
        day = self._days[t]
        cost = self.cfg.fees.cost(value, day, sell=False)
        spent = np.cumsum(value + cost)
        if (spent > acc.cash + 1e-9).any():
            # Cash runs out part-way: size each remaining order to what is left (order by order).
            cash = acc.cash
            for k in range(len(idx)):
                if deal[k] <= 0:
                    continue
                while deal[k] > 0 and deal[k] * price[k] + self.cfg.fees.cost(
                    np.array([deal[k] * price[k]]), day, sell=False
                )[0] > cash:
                    fit = np.floor(cash / (price[k] * (1 + self.cfg.fees.commission + self.cfg.fees.transfer_fee)))
                    new = self.round_buy(t, idx[k : k + 1], np.array([min(fit, deal[k] - self._step[idx[k]])]))[0]
                    deal[k] = max(new, 0.0)
                if deal[k] <= 0:
                    status[k] = STATUS_CODE["refused: not enough cash"]
                value[k] = deal[k] * price[k]
                cost[k] = self.cfg.fees.cost(value[k : k + 1], day, sell=False)[0]
                cash -= value[k] + cost[k]
        self._book(acc, idx, deal, value, cost, price, sell=False)
        return Fills(idx, deal, price, value, cost, np.asarray(reason), status)

    def _book(
        self, acc: Account, idx: np.ndarray, deal: np.ndarray, value: np.ndarray, cost: np.ndarray,
        price: np.ndarray, *, sell: bool,
    ) -> None:
        done = deal > 0
        if not done.any():
            return
        idx, deal, value, cost, price = idx[done], deal[done], value[done], cost[done], price[done]
        acc.total_turnover += float(value.sum())
        acc.total_cost += float(cost.sum())
        if sell:
            acc.cash += float((value - cost).sum())
            acc.amount[idx] -= deal
            acc.sellable[idx] -= deal
            acc.close_positions(idx[acc.amount[idx] <= 1e-9])
        else:
            acc.cash -= float((value + cost).sum())
            new = ~acc.held[idx]
            acc.price[idx[new]] = price[new]
            acc.entry_price[idx[new]] = price[new]
            acc.amount[idx] += deal
            acc.held[idx] = True

    def start_day(self, acc: Account, t: int) -> Fills:
        """T+1 bookkeeping and delisting exits (sell on the last listed session, else write off at last price)."""
        acc.sellable = acc.amount.copy()
        due = np.flatnonzero(acc.held & self._delists & (self._last_row <= t))
        if len(due) == 0:
            return Fills.none()
        last_day = due[self._last_row[due] == t]
        sell_now = last_day[~self._susp[t, last_day]]
        reasons = np.full(len(sell_now), REASON_CODE["delisting"])
        fills = self.sell(acc, t, sell_now, acc.amount[sell_now].copy(), reasons) if len(sell_now) else Fills.none()
        gone = due[self._last_row[due] < t]
        if len(gone):
            amount = acc.amount[gone].copy()
            price = acc.price[gone].copy()
            value = amount * price
            cost = self.cfg.fees.cost(value, self.m.dates[t], sell=True)
            acc.sellable[gone] = amount
            self._book(acc, gone, amount, value, cost, price, sell=True)
            write = Fills(gone, amount, price, value, cost, np.full(len(gone), REASON_CODE["delisted_writeoff"]),
                          np.zeros(len(gone), dtype=np.int64))
            fills = _concat(fills, write)
        return fills

    def bar_end(self, acc: Account, t: int) -> None:
        np.copyto(acc.price, self.price[t], where=acc.held & self._quoted[t])
        acc.count += acc.held


def _ffill_prev(price: np.ndarray) -> np.ndarray:
    """Previous session's last valid price per column (NaN before the first)."""
    valid = np.isfinite(price)
    rows = np.where(valid, np.arange(price.shape[0])[:, None], -1)
    last = np.maximum.accumulate(rows, axis=0)
    prev = np.vstack([np.full((1, price.shape[1]), -1), last[:-1]])
    cols = np.arange(price.shape[1])[None, :]
    return np.where(prev >= 0, price[np.maximum(prev, 0), cols], np.nan)


def _concat(a: Fills, b: Fills) -> Fills:
    return Fills(*(np.concatenate([getattr(a, f), getattr(b, f)]) for f in
                   ("idx", "amount", "price", "value", "cost", "reason", "status")))

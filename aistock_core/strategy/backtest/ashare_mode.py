"""A-share mode: the rules a real account meets (`aistock_core.trading`), in real shares and raw prices.

* T+1: only shares owned at the open can be sold; cash from sales is usable for buys the same day.
* Corporate actions (the market's `CorporateActions`; by default derived from the factor, see
  `aistock_core.trading.corporate_actions`) are credited at the open of the ex-date: bonus shares (from a
  table: whole shares, sellable from the next session, when they list) and cash dividends, each a recorded
  account event; the dividend tax by holding period is collected on sale, as part of the sale's cost.
* Price limits: ``round_half_up(ref × (1 ± rate), 0.01)`` around the day's reference price (previous close
  adjusted for the day's action), exact in cents (`aistock_core.trading.prices`); the provider's ``limit_up``/
  ``limit_down`` are used where it has them. A close at the upper limit refuses buys, at the lower limit refuses
  sells. No limit on an IPO's first sessions (per board).
* Lots: 100 shares (STAR: 200 minimum, then steps of 1); odd lots can only be sold when clearing a holding.
* Fees: `aistock_core.trading.fees.AshareFees`.
* Suspended stocks do not trade; a holding whose listing ends inside the window is sold on its last listed
  session when possible, else booked out at its last price the session after (reason ``delisted_writeoff``).
* Optional participation cap: at most ``participation × volume`` shares per order.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from aistock_core.errors import StrategyError
from aistock_core.strategy.backtest.market import MarketData, RuleGrids
from aistock_core.trading.account import Account
from aistock_core.trading.corporate_actions import CorporateActions
from aistock_core.trading.fees import AshareFees, dividend_tax_rate
from aistock_core.trading.orders import REASON_CODE, STATUS_CODE, Fills
from aistock_core.trading.prices import at_or_beyond, previous_valid, price_band
from aistock_core.trading.rules import (
    ipo_free_sessions,
    lot_rules,
    no_trade,
    round_buy_shares,
    round_sell_shares,
)


@dataclass(frozen=True)
class AshareConfig:
    fees: AshareFees = field(default_factory=AshareFees)
    participation: float | None = None

    def __post_init__(self) -> None:
        if self.participation is not None and not 0 < self.participation <= 1:
            raise StrategyError(f"participation cap must be in (0, 1], got {self.participation}")


@dataclass(frozen=True)
class _Probe:
    """Sells `AshareExchange.sell_proceeds` dealt on a copy of ``account``: the copy after them and the fills."""

    t: int
    account: Account
    cash: float
    n_events: int
    idx: np.ndarray
    amount: np.ndarray
    after: Account
    fills: Fills

    def matches(self, t: int, acc: Account, idx: np.ndarray, amount: np.ndarray) -> bool:
        """Whether selling ``idx``/``amount`` on ``acc`` now repeats the probe: same day, same account, untouched
        since (cash and events), the very same order arrays."""
        return (self.t == t and self.account is acc and self.cash == acc.cash and self.n_events == len(acc.events)
                and self.idx is idx and self.amount is amount)


class AshareExchange(RuleGrids):
    """Fills orders in real shares at the raw close under A-share rules (see module doc)."""

    def __init__(self, market: MarketData, config: AshareConfig) -> None:
        self.m = market
        self.cfg = config
        codes = list(market.instruments)
        self.price = market.raw_close
        self._susp = market.suspended | no_trade(self.price)
        self.actions = market.actions if market.actions is not None else CorporateActions.from_factor(
            np.where(market.listed, market.factor, np.nan))
        self._action_day = np.zeros(len(market.dates), dtype=bool)
        self._action_day[self.actions.rows()] = True
        st = market.st if market.st is not None else np.zeros(self.price.shape, dtype=bool)
        self.reference, up, down = price_band(codes, previous_valid(self.price), st=st, cash=self.actions.cash,
                                              bonus=self.actions.bonus)
        if market.limit_up is not None:
            up = np.where(np.isnan(market.limit_up), up, market.limit_up)
        if market.limit_down is not None:
            down = np.where(np.isnan(market.limit_down), down, market.limit_down)
        self.limit_up, self.limit_down = up, down
        age = np.cumsum(market.listed, axis=0)  # listed sessions so far (1 on the first)
        limited = age > ipo_free_sessions(codes)
        self._at_up = limited & at_or_beyond(self.price, up, upper=True)
        self._at_down = limited & at_or_beyond(self.price, down, upper=False)
        self._min_lot, self._step = lot_rules(codes)
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
        self._dealt: _Probe | None = None  # `sell_proceeds`'s last probe, until the next `sell`
        self._day64 = market.dates.to_numpy().astype("datetime64[D]")

    # -- what strategies read ------------------------------------------------------------------------------
    def deal_price(self, t: int) -> np.ndarray:
        return self.price[t]

    def round_buy(self, t: int, idx: np.ndarray, amount: np.ndarray) -> np.ndarray:
        return round_buy_shares(amount, self._min_lot[idx], self._step[idx])

    def to_exchange_amount(self, t: int, idx: np.ndarray, shares: np.ndarray) -> np.ndarray:
        return np.asarray(shares, dtype=float)

    def _cap(self, t: int, idx: np.ndarray, amount: np.ndarray) -> np.ndarray:
        if self.cfg.participation is None:
            return amount
        cap = np.nan_to_num(self._raw_volume[t, idx] * self.cfg.participation, nan=0.0)
        return np.minimum(amount, np.floor(cap / self._step[idx]) * self._step[idx])

    # -- fills ---------------------------------------------------------------------------------------------
    def sell_proceeds(self, acc: Account, t: int, idx: np.ndarray, amount: np.ndarray) -> float:
        """Cash after these sells (dealt on a copy: the account is not touched).

        The copy is kept: when the executor then sells exactly these orders (the same arrays) on the same
        untouched account, `sell` takes the copy's state instead of dealing them a second time.
        """
        probe = acc.copy()
        fills = self.sell(probe, t, idx, amount, np.zeros(len(idx), dtype=np.int64))
        self._dealt = _Probe(t, acc, acc.cash, len(acc.events), idx, amount, probe, fills)
        return acc.cash + float(fills.net_cash().sum())

    def sell(self, acc: Account, t: int, idx: np.ndarray, amount: np.ndarray, reason: np.ndarray) -> Fills:
        dealt, self._dealt = self._dealt, None
        if dealt is not None and dealt.matches(t, acc, idx, amount):
            acc.take_state(dealt.after)  # the copy's arrays: the same deals on the same state
            return replace(dealt.fills, reason=np.asarray(reason))
        idx = np.asarray(idx, dtype=np.int64)
        price = self.price[t, idx]
        held = np.where(acc.held[idx], acc.amount[idx], 0.0)
        sellable = np.minimum(acc.sellable[idx], held)
        want = np.minimum(np.asarray(amount, dtype=float), sellable)
        step = self._step[idx]
        deal = round_sell_shares(want, held, step)
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
        cost = self.cfg.fees.cost(value, self._days[t], sell=True) + self._dividend_tax(acc, t, idx, deal, held)
        self._book(acc, idx, deal, value, cost, price, sell=True, t=t)
        return Fills(idx, deal, price, value, cost, np.asarray(reason), status)

    def _dividend_tax(self, acc: Account, t: int, idx: np.ndarray, deal: np.ndarray, held: np.ndarray) -> np.ndarray:
        """Tax due on the dividends the sold shares received (pro rata of the holding), by holding period."""
        received = acc.dividend[idx]
        if not received.any():
            return np.zeros(len(idx))
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(held > 0, deal / held, 0.0)
        base = received * share
        tax = base * dividend_tax_rate(acc.opened[idx], self._days[t])
        acc.dividend[idx] = received - base
        taxed = tax > 0
        acc.record(self._days[t], "dividend_tax", idx[taxed], np.zeros(int(taxed.sum())), -tax[taxed])
        return tax

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
                    fit = np.floor(cash / (price[k] * (1 + self.cfg.fees.buy_rate())))
                    new = self.round_buy(t, idx[k : k + 1], np.array([min(fit, deal[k] - self._step[idx[k]])]))[0]
                    deal[k] = max(new, 0.0)
                if deal[k] <= 0:
                    status[k] = STATUS_CODE["refused: not enough cash"]
                value[k] = deal[k] * price[k]
                cost[k] = self.cfg.fees.cost(value[k : k + 1], day, sell=False)[0]
                cash -= value[k] + cost[k]
        self._book(acc, idx, deal, value, cost, price, sell=False, t=t)
        return Fills(idx, deal, price, value, cost, np.asarray(reason), status)

    def _book(
        self, acc: Account, idx: np.ndarray, deal: np.ndarray, value: np.ndarray, cost: np.ndarray,
        price: np.ndarray, *, sell: bool, t: int,
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
            acc.opened[idx[new]] = self._day64[t]
            acc.amount[idx] += deal
            acc.held[idx] = True

    def start_day(self, acc: Account, t: int) -> Fills:
        """Corporate actions of the day, T+1 bookkeeping (bonus shares credited today list tomorrow) and delisting
        exits (sell on the last listed session, else write off at the last price)."""
        if self._action_day[t]:
            new = acc.credit_actions(self._days[t], self.actions.cash[t], self.actions.bonus[t],
                                     whole_shares=self.actions.from_table)
            # Real bonus shares list the next session; the factor convention only re-denominates the holding.
            acc.sellable = acc.amount - new if self.actions.from_table else acc.amount.copy()
        else:
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
            self._book(acc, gone, amount, value, cost, price, sell=True, t=t)
            write = Fills(gone, amount, price, value, cost, np.full(len(gone), REASON_CODE["delisted_writeoff"]),
                          np.zeros(len(gone), dtype=np.int64))
            fills = fills.concat(write)
        return fills

    def bar_end(self, acc: Account, t: int) -> None:
        np.copyto(acc.price, self.price[t], where=acc.held & self._quoted[t])
        acc.count += acc.held

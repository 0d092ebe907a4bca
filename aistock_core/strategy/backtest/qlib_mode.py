"""Qlib mode: an exchange that fills orders exactly as Qlib 0.9.7's ``Exchange`` + ``SimulatorExecutor`` do.

Reproduced from ``qlib/backtest/exchange.py`` (read it alongside): deal price = close; a stock is untradable
when it has no quote or NaN close (suspended, delisted, not yet listed), and buying (selling) is refused when
``$change >= limit_threshold`` (``<= -limit_threshold``); sells of a whole position are not rounded, other
amounts are rounded with ``(amount × factor + 0.1) // trade_unit × trade_unit / factor`` (adjusted amounts);
cost = ``max(value × rate, min_cost)``; a buy the cash cannot cover is clipped by
``_get_buy_amount_by_cash_limit``; positions store ``value / price`` as the amount, and a sell that is
``np.isclose`` to the holding deletes it. Cash, cost and turnover are updated order by order in the same
order and with the same float operations (left-to-right sums), so reports match to the last bits except where
Qlib iterates a ``set`` (the order sells are placed in and the stock-value sum): ~1e-16 relative.

The common case is vectorised over a day's orders; only a day where cash runs short falls back to a scalar
loop (Qlib's clipping makes each order depend on the previous one then).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from aistock_core.strategy.backtest.market import MarketData, RuleGrids
from aistock_core.trading.account import Account
from aistock_core.trading.orders import STATUS_CODE, Fills
from aistock_core.trading.qlib_rules import QlibExchangeConfig

_REFUSED_LIMIT = STATUS_CODE["refused: price limit or suspended"]
_ZERO = STATUS_CODE["refused: rounds to zero"]


_NO_FILLS = Fills.none()
# Status codes of a batch where every order filled, sliced per day (read-only: shared by every Fills).
_ALL_FILLED = np.zeros(512, dtype=np.int64)
_ALL_FILLED.flags.writeable = False


def _isclose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.isclose`` with its defaults (rtol 1e-5, atol 1e-8) for finite inputs, without its overhead."""
    return np.abs(a - b) <= 1e-8 + 1e-5 * np.abs(b)


def _seq_sum(start: float, values: np.ndarray) -> float:
    """``start + v0 + v1 + ...`` left to right, as Qlib's ``cash += ...`` per order does (same rounding)."""
    total = float(start)
    for v in values.tolist():
        total += v
    return total


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a is b or (a.shape == b.shape and bool((a == b).all()))


def _all(mask: np.ndarray) -> bool:
    """``mask.all()`` for a day's handful of orders: the builtin on a list skips numpy's ~0.7 µs reduction setup,
    which adds up over a dozen checks a day in a 1500-day loop."""
    return all(mask.tolist())


def _any(mask: np.ndarray) -> bool:
    return any(mask.tolist())


def _status(ok: np.ndarray, dealt: np.ndarray, filled: bool) -> np.ndarray:
    """Status codes of a batch (``filled``: every order dealt, the usual case: a shared zero slice)."""
    if filled and len(ok) <= len(_ALL_FILLED):
        return _ALL_FILLED[: len(ok)]
    return np.where(ok, np.where(dealt, 0, _ZERO), _REFUSED_LIMIT)


class _SellQuote(NamedTuple):
    """A day's sells priced in order, before booking (``filled``: every order deals; ``whole``: each sells
    exactly its held amount, TopkDropout's case, so no rounding applies and Qlib's ``isclose`` clears them)."""

    ok: np.ndarray
    price: np.ndarray
    deal: np.ndarray
    value: np.ndarray
    cost: np.ndarray
    dealt: np.ndarray
    whole: bool
    filled: bool


class QlibExchange(RuleGrids):
    """Qlib's exchange over `MarketData` rows ``t0..t1`` (the rows Qlib's quote covers).

    Every per-cell rule (quoted, buy/sell refused at the limit) is one (T, N) boolean grid built here, so a
    day reads rows instead of recomputing masks; the grids handed to strategies are read-only views.
    """

    def __init__(self, market: MarketData, config: QlibExchangeConfig, t0: int, t1: int) -> None:
        self.m = market
        self.cfg = config
        susp = market.suspended
        self._susp = susp
        if config.limit_threshold is None:
            self._limit_buy = susp
            self._limit_sell = susp
        else:
            with np.errstate(invalid="ignore"):
                self._limit_buy = (market.change >= config.limit_threshold) | susp
                self._limit_sell = (market.change <= -config.limit_threshold) | susp
        self._set_rule_grids(~susp, ~self._limit_buy, ~self._limit_sell, ~self._limit_buy & ~self._limit_sell)
        self._quote_cache: tuple | None = None
        self._rounded: tuple | None = None  # (t, idx, amounts) last handed out by round_buy
        window = slice(t0, t1 + 1)
        # Qlib trades in adjusted prices (no lot rounding) as soon as any quoted close lacks a factor.
        self.trade_w_adj_price = bool(
            (np.isnan(market.factor[window]) & ~np.isnan(market.close[window]) & market.listed[window]).any()
        )

    # -- what strategies read ------------------------------------------------------------------------------
    def deal_price(self, t: int) -> np.ndarray:
        return self.m.close[t]

    def round_buy(self, t: int, idx: np.ndarray, amount: np.ndarray) -> np.ndarray:
        """Qlib's lot rounding. The result is read-only and remembered: Qlib rounds a buy again when it deals it,
        and rounding a rounded amount gives it back bit for bit, so `buy` skips that second pass for it."""
        out = self._round(t, idx, amount)
        if out is not amount:
            out.flags.writeable = False
            self._rounded = (t, idx, out)
        return out

    def to_exchange_amount(self, t: int, idx: np.ndarray, shares: np.ndarray) -> np.ndarray:
        """Real shares → Qlib's adjusted amount (shares ÷ factor)."""
        if self.trade_w_adj_price or self.cfg.trade_unit is None:
            return np.asarray(shares, dtype=float)
        return np.asarray(shares, dtype=float) / self.m.factor[t, idx]

    def _round(self, t: int, idx: np.ndarray, amount: np.ndarray) -> np.ndarray:
        unit = self.cfg.trade_unit
        if self.trade_w_adj_price or unit is None:
            return np.asarray(amount, dtype=float)
        f = self.m.factor[t, idx]
        return np.floor_divide(amount * f + 0.1, unit) * unit / f

    def _ratio(self, rate: float, t: int, idx: np.ndarray, amount: np.ndarray, price: np.ndarray) -> np.ndarray | float:
        """Cost rate per order: ``rate`` plus Qlib's impact cost (a scalar when there is none, the usual case)."""
        return rate + self._impact(t, idx, amount * price) if self.cfg.impact_cost else rate

    def _impact(self, t: int, idx: np.ndarray, value: np.ndarray) -> np.ndarray | float:
        if not self.cfg.impact_cost:
            return 0.0  # broadcasts like the zero array it stands for, without allocating one
        total = self.m.volume[t, idx] * self.m.close[t, idx]
        with np.errstate(invalid="ignore", divide="ignore"):
            adj = self.cfg.impact_cost * (value / total) ** 2
        return np.where((total == 0) | np.isnan(total), self.cfg.impact_cost, adj)

    # -- fills ---------------------------------------------------------------------------------------------
    def _quote_sells(self, acc: Account, t: int, idx: np.ndarray, amount: np.ndarray) -> _SellQuote | None:
        """The sells priced in order (nothing booked), or None when cash cannot cover some sell's cost."""
        ok = self._sell_ok[t, idx]
        price = self.m.close[t, idx]
        amount = np.asarray(amount, dtype=float)
        ratio = self._ratio(self.cfg.close_cost, t, idx, amount, price)
        held = acc.held[idx]
        cur = acc.amount[idx]
        whole = _all(held & (amount == cur))
        all_ok = _all(ok)
        if whole:
            deal = amount if all_ok else np.where(ok, amount, 0.0)
        else:
            cur = np.where(held, cur, 0.0)
            deal = amount.copy()
            partial = ~_isclose(deal, cur)
            if _any(partial):
                deal[partial] = self._round(t, idx[partial], np.minimum(cur[partial], deal[partial]))
            deal[~ok] = 0.0
        value = deal * price
        cost = np.maximum(value * ratio, self.cfg.min_cost)
        dealt = value > 1e-5
        # Qlib refuses a sell whose cost the cash (after the sells before it) cannot cover. Each sell adds
        # value - cost ≥ -cost, so cash of at least twice the summed costs rules that out with room to spare for
        # rounding; otherwise check order by order.
        if not acc.cash >= 2.0 * sum(cost.tolist()) >= 0.0:
            net = np.where(dealt, value - cost, 0.0)
            cash_before = np.add.accumulate(np.concatenate([[acc.cash], net]))[:-1]
            if _any(ok & (cash_before + value < cost)):
                return None
        all_dealt = _all(dealt)
        return _SellQuote(ok, price, deal, value, cost if all_dealt else np.where(dealt, cost, 0.0), dealt,
                          whole, all_ok and all_dealt)

    def sell_proceeds(self, acc: Account, t: int, idx: np.ndarray, amount: np.ndarray) -> float:
        """Cash after these sells, summed order by order as Qlib's strategy does on its temporary position.

        The quote is kept: the executor's real sells that follow (same day, same account state) reuse it.
        """
        idx = np.asarray(idx, dtype=np.int64)
        quote = self._quote_sells(acc, t, idx, amount)
        self._quote_cache = (t, idx, amount, acc.cash, quote)
        if quote is None:
            fills = self._sell_scalar(acc.copy(), t, idx, amount, np.zeros(len(idx), dtype=np.int64))
            return _seq_sum(acc.cash, fills.value - fills.cost)
        return _seq_sum(acc.cash, quote.value - quote.cost)

    def sell(self, acc: Account, t: int, idx: np.ndarray, amount: np.ndarray, reason: np.ndarray) -> Fills:
        idx = np.asarray(idx, dtype=np.int64)
        cached, self._quote_cache = self._quote_cache, None
        if (cached is not None and cached[0] == t and cached[3] == acc.cash and _same(cached[1], idx)
                and _same(np.asarray(cached[2]), np.asarray(amount))):
            q = cached[4]
        else:
            q = self._quote_sells(acc, t, idx, amount)
        if q is None:
            return self._sell_scalar(acc, t, idx, amount, reason)
        if q.filled:
            self._apply(acc, idx, q.value, q.cost, q.price, sell=True, whole=q.whole)
            return Fills(idx, q.deal, q.price, q.value, q.cost, reason, _status(q.ok, q.dealt, True))
        d = q.dealt
        self._apply(acc, idx[d], q.value[d], q.cost[d], q.price[d], sell=True, whole=q.whole)
        return Fills(idx, np.where(d, q.deal, 0.0), q.price, np.where(d, q.value, 0.0), q.cost, reason,
                     _status(q.ok, d, False))

    def buy(self, acc: Account, t: int, idx: np.ndarray, amount: np.ndarray, reason: np.ndarray) -> Fills:
        idx = np.asarray(idx, dtype=np.int64)
        ok = self._buy_ok[t, idx]
        price = self.m.close[t, idx]
        rounded, self._rounded = self._rounded, None
        was_rounded = rounded is not None and rounded[2] is amount and rounded[0] == t and _same(rounded[1], idx)
        amount = np.asarray(amount, dtype=float)
        all_ok = _all(ok)
        if not all_ok:
            amount = np.where(ok, amount, 0.0)
        value0 = amount * price
        ratio = self._ratio(self.cfg.open_cost, t, idx, amount, price)
        need = value0 + np.maximum(value0 * ratio, self.cfg.min_cost)
        deal = amount if was_rounded else self._round(t, idx, amount)
        value = deal * price
        cost = np.maximum(value * ratio, self.cfg.min_cost)
        dealt = value > 1e-5
        all_dealt = _all(dealt)
        spend = value + cost if all_dealt else np.where(dealt, value + cost, 0.0)
        # Cash before each order, reduced order by order as Qlib's position does (same rounding).
        cash_before = np.subtract.accumulate(np.concatenate([[acc.cash], spend]))[:-1]
        short = cash_before < need
        if _any(short if all_ok else ok & short):
            return self._buy_scalar(acc, t, idx, amount, reason, ok)
        if all_dealt:
            self._apply(acc, idx, value, cost, price, sell=False)
            return Fills(idx, deal, price, value, cost, reason, _status(ok, dealt, all_ok))
        cost = np.where(dealt, cost, 0.0)
        self._apply(acc, idx[dealt], value[dealt], cost[dealt], price[dealt], sell=False)
        return Fills(idx, np.where(dealt, deal, 0.0), price, np.where(dealt, value, 0.0), cost, reason,
                     _status(ok, dealt, False))

    def _apply(
        self, acc: Account, idx: np.ndarray, value: np.ndarray, cost: np.ndarray, price: np.ndarray, *, sell: bool,
        whole: bool = False,
    ) -> None:
        """Book dealt orders (unique codes) in order: Qlib's ``Account.update_order`` + ``Position``.

        The running totals are summed order by order in one pass (Qlib's ``+=`` per order, same rounding).
        ``whole`` (sells of exactly the held amounts) skips the ``isclose`` test that would clear them all anyway.
        """
        if len(idx) == 0:
            return
        turnover, total_cost, cash = acc.total_turnover, acc.total_cost, acc.cash
        if sell:
            for v, c in zip(value.tolist(), cost.tolist(), strict=True):
                turnover += v
                total_cost += c
                cash += v - c
        else:
            for v, c in zip(value.tolist(), cost.tolist(), strict=True):
                turnover += v
                total_cost += c
                cash += -(v + c)
        acc.total_turnover, acc.total_cost, acc.cash = turnover, total_cost, cash
        if sell:
            out = idx
            if not whole:
                before = acc.amount[idx]
                traded = value / price
                gone = _isclose(before, traded)
                if not _all(gone):
                    acc.amount[idx] = before - traded
                    out = idx[gone]
            acc.close_positions(out)
            return
        traded = value / price
        adding = acc.held[idx]
        if _any(adding):
            new = ~adding
            acc.amount[idx] = np.where(new, traded, acc.amount[idx] + traded)
            idx, price = idx[new], price[new]
        else:
            acc.amount[idx] = traded
        acc.price[idx] = price
        acc.entry_price[idx] = price
        acc.held[idx] = True

    def _sell_scalar(self, acc: Account, t: int, idx: np.ndarray, amount: np.ndarray, reason: np.ndarray) -> Fills:
        """Order-by-order path (cash too low for some sell's cost): Qlib's "in case of negative cash" rule."""
        n = len(idx)
        out = Fills(idx, np.zeros(n), self.m.close[t, idx], np.zeros(n), np.zeros(n), reason, np.zeros(n, np.int64))
        for k in range(n):
            i = idx[k : k + 1]
            if self._limit_sell[t, i[0]]:
                out.status[k] = _REFUSED_LIMIT
                continue
            price = out.price[k]
            ratio = self.cfg.close_cost + np.atleast_1d(self._impact(t, i, amount[k : k + 1] * price))[0]
            cur = acc.amount[i[0]] if acc.held[i[0]] else 0.0
            deal = float(amount[k])
            if not np.isclose(deal, cur):
                deal = float(self._round(t, i, np.array([min(cur, deal)]))[0])
            if acc.cash + deal * price < max(deal * price * ratio, self.cfg.min_cost):
                deal = 0.0
            value = deal * price
            cost = max(value * ratio, self.cfg.min_cost) if value > 1e-5 else 0.0
            out.status[k] = 0 if value > 1e-5 else STATUS_CODE["refused: cash cannot cover the cost"]
            if value > 1e-5:
                out.amount[k], out.value[k], out.cost[k] = deal, value, cost
                self._apply(acc, i, np.array([value]), np.array([cost]), np.array([price]), sell=True)
        return out

    def _buy_scalar(
        self, acc: Account, t: int, idx: np.ndarray, amount: np.ndarray, reason: np.ndarray, ok: np.ndarray
    ) -> Fills:
        """Order-by-order path with Qlib's cash clipping (``_get_buy_amount_by_cash_limit``)."""
        n = len(idx)
        cfg = self.cfg
        out = Fills(idx, np.zeros(n), self.m.close[t, idx], np.zeros(n), np.zeros(n), reason, np.zeros(n, np.int64))
        for k in range(n):
            i = idx[k : k + 1]
            if not ok[k]:
                out.status[k] = _REFUSED_LIMIT
                continue
            price = out.price[k]
            deal = float(amount[k])
            ratio = cfg.open_cost + np.atleast_1d(self._impact(t, i, np.array([deal * price])))[0]
            cash = acc.cash
            value = deal * price
            if cash < max(value * ratio, cfg.min_cost):
                deal = 0.0
            elif cash < value + max(value * ratio, cfg.min_cost):
                max_amount = 0.0
                if cash >= cfg.min_cost:
                    critical = cfg.min_cost / ratio + cfg.min_cost if ratio else np.inf
                    max_amount = cash / (1 + ratio) / price if cash >= critical else (cash - cfg.min_cost) / price
                deal = float(self._round(t, i, np.array([min(max_amount, deal)]))[0])
            else:
                deal = float(self._round(t, i, np.array([deal]))[0])
            value = deal * price
            cost = max(value * ratio, cfg.min_cost) if value > 1e-5 else 0.0
            out.status[k] = 0 if value > 1e-5 else STATUS_CODE["refused: not enough cash"]
            if value > 1e-5:
                out.amount[k], out.value[k], out.cost[k] = deal, value, cost
                self._apply(acc, i, np.array([value]), np.array([cost]), np.array([price]), sell=False)
        return out

    def start_day(self, acc: Account, t: int) -> Fills:
        """Qlib does nothing at the open (delisted holdings stay, priced at their last close; no T+1)."""
        return _NO_FILLS

    def bar_end(self, acc: Account, t: int) -> None:
        """Mark to the close where quoted (a suspended or delisted holding keeps its last price); count bars."""
        np.copyto(acc.price, self.m.close[t], where=acc.held & self._quoted[t])
        acc.count += acc.held

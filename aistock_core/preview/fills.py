"""One virtual rebalance: target weights + holdings + a quote snapshot → fills and unfilled intents.

Pure numpy over the instance's symbols (no database), so the rules are testable on hand-made quotes. Every
A-share rule comes from `aistock_core.trading`: lots and the STAR minimum (`rules.round_buy_shares` /
`round_sell_shares`), limit prices exact to the cent (`prices`), fees (`fees.AshareFees`) and the status texts
(`orders.STATUSES`). An *intent* is an order the rebalance would place with unlimited cash and no market rule
(the target rounded to lots); what the rules then refuse is recorded with its reason instead of silently
disappearing. Sells go first so their cash funds the buys (cash from sales is usable the same day). A sale also
pays the dividend tax its shares owe (`fees.dividend_tax_rate` by holding period, on the sold share of the
dividends the holding received), recorded as a ``tax`` row so values still reconcile from trades alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from aistock_core.trading.fees import AshareFees, dividend_tax_rate
from aistock_core.trading.orders import REASONS, STATUS_CODE, STATUSES
from aistock_core.trading.prices import at_or_beyond, limit_prices, reference_price
from aistock_core.trading.rules import limit_rates, lot_rules, round_buy_shares, round_sell_shares

FILLED_REASON = REASONS[1]  # "rebalance"
TAX_REASON = "dividend_tax"
NOT_OPENED = np.datetime64("NaT", "D")
# Refusal reasons are the trading package's status texts (a KeyError at import if one is ever renamed there).
_SUSPENDED, _LIMIT_UP, _LIMIT_DOWN, _T_PLUS_1, _NO_CASH = (STATUSES[STATUS_CODE[text]] for text in (
    "refused: suspended", "refused: limit up", "refused: limit down", "refused: T+1 (shares bought today)",
    "refused: not enough cash"))


@dataclass
class Book:
    """An instance's holdings on one day, aligned to ``symbols``: shares, T+1 sellable shares, average cost
    (fees included) and the last known mark; plus its cash. ``opened`` (datetime64 days, NaT: not held) and
    ``dividend`` (cash dividends received, tax still due on sale) size the dividend tax; unset, none is due."""

    symbols: pd.Index
    volume: np.ndarray
    sellable: np.ndarray
    avg_cost: np.ndarray
    last_price: np.ndarray
    cash: float
    opened: np.ndarray | None = None
    dividend: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.symbols)
        self.opened = np.full(n, NOT_OPENED) if self.opened is None else np.asarray(self.opened, "datetime64[D]")
        self.dividend = np.zeros(n) if self.dividend is None else np.asarray(self.dividend, float)

    def reindex(self, symbols: pd.Index) -> Book:
        """The same book over ``symbols`` (new names with nothing held)."""
        pos = self.symbols.get_indexer(symbols)
        have = pos >= 0

        def take(arr: np.ndarray, fill) -> np.ndarray:
            return np.where(have, arr[np.maximum(pos, 0)] if len(arr) else fill, fill)

        return Book(symbols, take(self.volume, 0.0), take(self.sellable, 0.0), take(self.avg_cost, 0.0),
                    take(self.last_price, np.nan), self.cash, take(self.opened, NOT_OPENED),
                    take(self.dividend, 0.0))


@dataclass
class Rebalance:
    """The outcome: the book after trading and one row per intent (``trades``: symbol, side, price, volume,
    amount, fee, status, reason, target_volume; volume 0 and status ``unfilled`` for refused intents)."""

    book: Book
    trades: pd.DataFrame
    fees: float


def quote_limits(quote: pd.DataFrame, symbols: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """(up, down) limit prices per symbol: the quote's own when it carries them, else from its reference close
    and the board's rate (NaN: no limit)."""
    if {"limit_up", "limit_down"} <= set(quote.columns):
        return quote["limit_up"].to_numpy(float), quote["limit_down"].to_numpy(float)
    ref = reference_price(quote["prev_close"].to_numpy(float))
    return limit_prices(ref, limit_rates(symbols))


def rebalance(book: Book, weights: pd.Series, quote: pd.DataFrame, day: pd.Timestamp,
              fees: AshareFees) -> Rebalance:
    """Move ``book`` towards ``weights`` (symbol → fraction of total value) at the quote's last prices.

    ``quote``: the snapshot indexed by symbol (``close`` = last price, ``prev_close``, optional ``limit_up``,
    ``limit_down``, ``suspended``). Names without a usable price are suspended: neither bought nor sold.
    """
    symbols = book.symbols.union(weights.index[weights > 0]).sort_values()
    book = book.reindex(symbols)
    quote = quote.reindex(symbols)
    price = quote["close"].to_numpy(float)
    suspended = ~np.isfinite(price) | (price <= 0)
    if "suspended" in quote.columns:
        suspended |= quote["suspended"].fillna(True).to_numpy(bool)
    up, down = quote_limits(quote, symbols)
    mark = np.where(suspended, book.last_price, price)
    total = book.cash + float(np.nansum(book.volume * mark))
    w = weights.reindex(symbols).fillna(0.0).to_numpy(float)
    # A suspended name keeps its holding while targeted (no price to size against) and is an intent to sell
    # when it left the targets; either way the rules below refuse to trade it.
    target = np.where(suspended, np.where(w > 0, book.volume, 0.0), w * total / np.where(suspended, 1.0, price))
    min_lot, step = lot_rules(symbols)

    # Sells: a zero weight clears the holding; a lower one sells down to the step.
    want_sell = np.where(w == 0, book.volume, np.maximum(book.volume - target, 0.0))
    sell_intent = round_sell_shares(want_sell, book.volume, step)
    sell_ok = sell_intent > 0
    sell_fill = round_sell_shares(np.minimum(sell_intent, book.sellable), book.volume, step)
    sell_status = np.select(
        [suspended, at_or_beyond(price, down, upper=False), sell_fill <= 0], [_SUSPENDED, _LIMIT_DOWN, _T_PLUS_1],
        default="")
    sell_fill = np.where(sell_status == "", sell_fill, 0.0)
    sell_value = sell_fill * np.nan_to_num(price)
    sell_fee = fees.cost(sell_value, day, sell=True)
    taxed = book.dividend * np.divide(sell_fill, book.volume, out=np.zeros_like(sell_fill), where=book.volume > 0)
    tax = np.where(taxed > 0, taxed * dividend_tax_rate(book.opened, day), 0.0)
    cash = book.cash + float(sell_value.sum() - sell_fee.sum() - tax.sum())

    # Buys: up to the target rounded to lots, cut back to what the cash (after fees) covers, best weight first.
    buy_intent = round_buy_shares(np.maximum(target - book.volume, 0.0), min_lot, step)
    buy_ok = (buy_intent > 0) | (suspended & (w > 0) & (book.volume == 0))
    buy_status = np.select([suspended, at_or_beyond(price, up, upper=True)], [_SUSPENDED, _LIMIT_UP], default="")
    buy_fill = np.where(buy_ok & (buy_status == ""), buy_intent, 0.0)
    need = float((buy_fill * np.nan_to_num(price)).sum() * (1 + fees.buy_rate()))
    if need > cash > 0:
        buy_fill = round_buy_shares(buy_fill * (cash / need), min_lot, step)
    buy_value = buy_fill * np.nan_to_num(price)
    buy_fee = fees.cost(buy_value, day, sell=False)
    order = np.argsort(-w, kind="stable")
    affordable = np.zeros(len(symbols), dtype=bool)
    affordable[order] = np.cumsum((buy_value + buy_fee)[order]) <= cash + 1e-6
    buy_fill = np.where(affordable, buy_fill, 0.0)
    buy_status = np.where((buy_status == "") & buy_ok & (buy_fill <= 0), _NO_CASH, buy_status)
    buy_value = buy_fill * np.nan_to_num(price)
    buy_fee = fees.cost(buy_value, day, sell=False)
    cash -= float(buy_value.sum() + buy_fee.sum())

    volume = book.volume - sell_fill + buy_fill
    basis = book.avg_cost * book.volume - book.avg_cost * sell_fill + buy_value + buy_fee
    avg_cost = np.divide(basis, volume, out=np.zeros_like(volume), where=volume > 0)
    opened = np.where(volume <= 0, NOT_OPENED, np.where(book.volume > 0, book.opened, np.datetime64(day.date(), "D")))
    dividend = np.where(volume > 0, book.dividend - taxed, 0.0)
    after = Book(symbols, volume, book.sellable - sell_fill, avg_cost, mark, cash, opened, dividend)
    paid = tax > 0
    trades = pd.concat([
        _rows(symbols, "sell", sell_ok, sell_fill, price, sell_value, sell_fee, sell_status, sell_intent),
        pd.DataFrame({"symbol": symbols[paid], "side": "tax", "price": 0.0, "volume": 0.0, "amount": tax[paid],
                      "fee": 0.0, "status": "filled", "reason": TAX_REASON, "target_volume": np.nan}),
        _rows(symbols, "buy", buy_ok, buy_fill, price, buy_value, buy_fee, buy_status, buy_intent),
    ], ignore_index=True)
    return Rebalance(after, trades, float(sell_fee.sum() + buy_fee.sum()))


def _rows(symbols: pd.Index, side: str, intent: np.ndarray, fill: np.ndarray, price: np.ndarray,
          value: np.ndarray, fee: np.ndarray, status: np.ndarray, target: np.ndarray) -> pd.DataFrame:
    filled = fill > 0
    return pd.DataFrame({
        "symbol": symbols[intent], "side": side, "price": np.nan_to_num(price)[intent], "volume": fill[intent],
        "amount": value[intent], "fee": fee[intent],
        "status": np.where(filled[intent], "filled", "unfilled"),
        "reason": np.where(filled[intent], FILLED_REASON, status[intent]), "target_volume": target[intent],
    })

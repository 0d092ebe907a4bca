"""TopkDropoutStrategy with Qlib 0.9.7's exact semantics (``qlib/contrib/strategy/signal_strategy.py``).

Per trade day, with yesterday's scores: ``last`` = holdings ranked by score (unscored last); ``today`` = the
best ``n_drop + topk - len(last)`` non-held names; ``comb`` = last ∪ today ranked by score; sell the holdings
among the bottom ``n_drop`` of ``comb`` (only if tradable and held ≥ ``hold_thresh`` bars); buy the first
``len(sell) + topk - len(last)`` of ``today``, each with ``cash_after_sells × risk_degree / len(buy)``,
lot-rounded. Python slicing quirks are kept on purpose (``n_drop = 0`` sells every holding, as ``li[-0:]``
is the whole list), because matching Qlib's trades is the point of this class.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aistock_core.errors import StrategyError
from aistock_core.strategy.base import DayContext
from aistock_core.trading.orders import REASON_CODE, Orders

# Read-only reason arrays sliced per day (allocating two small arrays a day shows up in a 1500-day loop).
_ROTATE_CODES = np.full(256, REASON_CODE["topk_dropout"])
_ENTRY_CODES = np.full(256, REASON_CODE["entry"])
_ROTATE_CODES.flags.writeable = False
_ENTRY_CODES.flags.writeable = False


@dataclass(frozen=True)
class TopkDropoutStrategy:
    """Qlib's ``TopkDropoutStrategy(topk, n_drop, method_sell, method_buy, hold_thresh, only_tradable,
    forbid_all_trade_at_limit, risk_degree)``; only the deterministic methods ("bottom"/"top") exist here."""

    topk: int
    n_drop: int
    method_sell: str = "bottom"
    method_buy: str = "top"
    hold_thresh: int = 1
    only_tradable: bool = False
    forbid_all_trade_at_limit: bool = True
    risk_degree: float = 0.95

    def __post_init__(self) -> None:
        if self.topk <= 0 or self.n_drop < 0:
            raise StrategyError(f"TopkDropoutStrategy needs topk > 0 and n_drop >= 0, got {self.topk}/{self.n_drop}")
        if self.method_sell != "bottom" or self.method_buy != "top":
            raise StrategyError(
                f"method_sell={self.method_sell!r}/method_buy={self.method_buy!r}: only 'bottom'/'top' are "
                f"supported ('random' cannot be reproduced trade for trade)"
            )
        if not 0 < self.risk_degree <= 1:
            raise StrategyError(f"risk_degree must be in (0, 1], got {self.risk_degree}")

    def decide(self, ctx: DayContext) -> Orders:
        acc, ex, t = ctx.account, ctx.exchange, ctx.t
        if not ctx.has_scores():
            return Orders()  # Qlib: no signal for the day → no decision

        def first_n(li: np.ndarray, n: int) -> np.ndarray:
            if self.only_tradable:
                return li[ex.tradable(t, "any")[li]][: max(n, 1)]
            return li[:n]

        def last_n(li: np.ndarray, n: int) -> np.ndarray:
            if self.only_tradable:
                kept = li[ex.tradable(t, "any")[li]]
                return kept[len(kept) - min(max(n, 1), len(kept)) :]
            return li[-n:]

        # Qlib ranks its holdings (``last``) by score, but only uses them as a set and through len(): skip the sort.
        last = acc.held.nonzero()[0]
        today = first_n(ctx.ranked(~acc.held), self.n_drop + self.topk - len(last))
        comb = ctx.sort_desc(np.concatenate([last, today]))  # last ∪ today (disjoint)
        bottom = last_n(comb, self.n_drop)
        sell = np.sort(bottom[acc.held[bottom]])  # the holdings among them, in column order as Qlib keeps them
        buy = today[: len(sell) + self.topk - len(last)]

        direction = "any" if self.forbid_all_trade_at_limit else "sell"
        sell_idx = sell[ex.tradable(t, direction)[sell] & (acc.count[sell] >= self.hold_thresh)]
        sell_amount = acc.amount[sell_idx]
        reasons = _ROTATE_CODES[: len(sell_idx)] if len(sell_idx) <= len(_ROTATE_CODES) else np.full(
            len(sell_idx), REASON_CODE["topk_dropout"])
        cash = ex.sell_proceeds(acc, t, sell_idx, sell_amount)
        value = cash * self.risk_degree / len(buy) if len(buy) > 0 else 0.0

        direction = "any" if self.forbid_all_trade_at_limit else "buy"
        buy_idx = buy[ex.tradable(t, direction)[buy]]
        buy_amount = ex.round_buy(t, buy_idx, value / ex.deal_price(t)[buy_idx])
        entry = _ENTRY_CODES[: len(buy_idx)] if len(buy_idx) <= len(_ENTRY_CODES) else np.full(
            len(buy_idx), REASON_CODE["entry"])
        return Orders(sell_idx, sell_amount, reasons, buy_idx, buy_amount, entry)

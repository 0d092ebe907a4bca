"""Weight strategies: equal-weight or score-weighted top-k with a per-name cap, traded to target each day.

Scores are read as expected returns: the score-weighted variant puts weight on the positive part of the
score (names with a non-positive score get none; if no score is positive it falls back to equal weights).
Capping uses water-filling: weights above ``max_weight`` are clipped and the excess is shared by the uncapped
names in proportion, repeated until nothing exceeds the cap (what cannot be placed stays in cash).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from aistock_core.errors import StrategyError
from aistock_core.strategy.base import DayContext, nargsort_desc
from aistock_core.trading.orders import REASON_CODE, Orders


def cap_weights(weights: np.ndarray, max_weight: float) -> np.ndarray:
    """Clip at ``max_weight`` and redistribute the excess over the uncapped names (sum stays ≤ 1)."""
    w = np.asarray(weights, dtype=float).copy()
    for _ in range(len(w)):
        over = w > max_weight + 1e-15
        if not over.any():
            break
        excess = float(np.sum(w[over] - max_weight))
        w[over] = max_weight
        free = w < max_weight - 1e-15
        if not free.any() or w[free].sum() <= 0:
            break
        w[free] += excess * w[free] / w[free].sum()
    return w


def topk_weights(scores: np.ndarray, topk: int, method: str, max_weight: float) -> tuple[np.ndarray, np.ndarray]:
    """(columns, weights) of the top-k scored names; NaN scores never qualify."""
    valid = np.flatnonzero(~np.isnan(scores))
    top = valid[nargsort_desc(scores[valid])][:topk]
    if len(top) == 0:
        return top, np.zeros(0)
    if method == "score":
        raw = np.maximum(scores[top], 0.0)
        w = raw / raw.sum() if raw.sum() > 0 else np.full(len(top), 1.0 / len(top))
    else:
        w = np.full(len(top), 1.0 / len(top))
    return top, cap_weights(w, max_weight)


@dataclass(frozen=True)
class WeightedTopkStrategy:
    """Hold the top-k names at target weights (× risk_degree of the account), rebalancing daily."""

    topk: int = 50
    method: Literal["equal", "score"] = "equal"
    max_weight: float = 1.0
    risk_degree: float = 0.95
    rebalance_threshold: float = 0.0

    def __post_init__(self) -> None:
        if self.topk <= 0:
            raise StrategyError(f"topk must be positive, got {self.topk}")
        if self.method not in ("equal", "score"):
            raise StrategyError(f"weight method {self.method!r} is unknown; use 'equal' or 'score'")
        if not 0 < self.max_weight <= 1:
            raise StrategyError(f"max_weight must be in (0, 1], got {self.max_weight}")

    def target_weights(self, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return topk_weights(scores, self.topk, self.method, self.max_weight)

    def decide(self, ctx: DayContext) -> Orders:
        s, acc, ex, t = ctx.scores, ctx.account, ctx.exchange, ctx.t
        if np.isnan(s).all():
            return Orders()
        cols, w = self.target_weights(s)
        price = ex.deal_price(t)
        mark = np.where(ex.has_quote(t), price, acc.price)
        held = np.flatnonzero(acc.held)
        total = acc.cash + float(np.sum(acc.amount[held] * mark[held]))
        target = np.zeros(len(price))
        target[cols] = total * self.risk_degree * w
        current = np.zeros(len(price))
        current[held] = acc.amount[held] * mark[held]
        delta = target - current
        min_trade = self.rebalance_threshold * total
        names = np.union1d(held, cols)
        sell = names[(delta[names] < -min_trade) & ex.tradable(t, "sell")[names]]
        sell_amount = np.where(target[sell] <= 0, acc.amount[sell], -delta[sell] / price[sell])
        buy = cols[(delta[cols] > min_trade) & ex.tradable(t, "buy")[cols]]
        buy_amount = ex.round_buy(t, buy, delta[buy] / price[buy])
        keep = buy_amount > 0
        return Orders(
            sell, sell_amount, np.full(len(sell), REASON_CODE["rebalance"]),
            buy[keep], buy_amount[keep], np.full(int(keep.sum()), REASON_CODE["rebalance"]),
        )

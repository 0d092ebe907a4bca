"""RD-Agent's ``EnhancedTopkDropoutStrategy`` (``rdagent/scenarios/qlib/experiment/factor_template/
custom_strategy.py``; rdagent.md §9): TopkDropout plus stop-loss, staged take-profit and a score floor.

Per trade day, against each holding's entry price (the deal price of its first buy):
  1. stop-loss: return ≤ ``stop_loss`` (−10%) → sell everything;
  2. take-profit: ≥ +35% → sell everything; ≥ +25% → sell 30% of the amount recorded at the first
     take-profit; ≥ +15% (first time only) → sell 30% and record the amount;
  3. liquidate holdings that are not among the top-k scores ≥ ``min_score``;
  4. buy the best non-held candidates until ``topk`` names are held, weighting by score² within the
     candidates, investing ``cash × max_position_ratio``, skipping prices outside
     [``min_trade_price``, ``max_trade_price``] and |change| > 20%, capping each order at
     ``max_single_order_value`` / ``max_single_order_amount``, and rounding to lots.
Deliberate differences: names being partly sold for take-profit are not bought back the same day, and the
buy amount is value ÷ deal price in the exchange's unit (RD-Agent divides Qlib's adjusted amount by the factor
a second time, which under-buys every stock with factor > 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aistock_core.errors import StrategyError
from aistock_core.strategy.base import DayContext, nargsort_desc
from aistock_core.trading.orders import REASON_CODE, Orders

_TP_LEVELS = (0.15, 0.25, 0.35)


@dataclass(frozen=True)
class EnhancedTopkDropoutStrategy:
    topk: int = 50
    n_drop: int = 5
    min_score: float = 0.1
    max_position_ratio: float = 0.9
    stop_loss: float = -0.10
    min_trade_price: float = 0.5
    max_trade_price: float = 5000.0
    max_single_order_value: float = 5e6
    max_single_order_amount: float = 5e6
    lot_size: float = 100.0
    risk_degree: float = 0.95

    def __post_init__(self) -> None:
        if self.topk <= 0:
            raise StrategyError(f"EnhancedTopkDropoutStrategy needs topk > 0, got {self.topk}")
        if not 0 < self.max_position_ratio <= 1:
            raise StrategyError(f"max_position_ratio must be in (0, 1], got {self.max_position_ratio}")
        if self.stop_loss >= 0:
            raise StrategyError(f"stop_loss is a negative return threshold (e.g. -0.10), got {self.stop_loss}")

    def decide(self, ctx: DayContext) -> Orders:
        s, acc, ex, t = ctx.scores, ctx.account, ctx.exchange, ctx.t
        valid = ~np.isnan(s)
        if not valid.any():
            return Orders()
        price = ex.deal_price(t)
        held = np.flatnonzero(acc.held)
        quoted = held[ex.has_quote(t)[held] & (price[held] > 0)]
        entry = acc.entry_price[quoted]
        ret = (price[quoted] - entry) / entry
        known = ~np.isnan(ret)
        quoted, ret = quoted[known], ret[known]
        current = acc.amount[quoted]
        stop = ret <= self.stop_loss
        tp_all = ret >= _TP_LEVELS[2]
        base = acc.tp_base[quoted]
        tp_two = (ret >= _TP_LEVELS[1]) & ~tp_all
        tp_one = (ret >= _TP_LEVELS[0]) & (ret < _TP_LEVELS[1]) & np.isnan(base)
        amount = np.where(stop | tp_all, current, 0.0)
        amount = np.where(tp_two, np.where(np.isnan(base), 0.3 * current, np.minimum(0.3 * base, current)), amount)
        amount = np.where(tp_one, 0.3 * current, amount)
        record = (tp_two | tp_one) & np.isnan(base)
        acc.tp_base[quoted[record]] = current[record]
        risk_sell = amount > 0
        sell_idx = quoted[risk_sell]
        sell_amount = amount[risk_sell]
        sell_reason = np.where(stop[risk_sell], REASON_CODE["stop_loss"], REASON_CODE["take_profit"])

        qualified = np.flatnonzero(valid & (s >= self.min_score))
        selected = qualified[nargsort_desc(s[qualified])][: self.topk]
        leave = held[~np.isin(held, selected) & ~np.isin(held, sell_idx)]
        sell_idx = np.concatenate([sell_idx, leave])
        sell_amount = np.concatenate([sell_amount, acc.amount[leave]])
        sell_reason = np.concatenate([sell_reason, np.full(len(leave), REASON_CODE["not_in_candidates"])])
        orders = Orders(sell_idx, sell_amount, sell_reason.astype(np.int64))
        remaining = len(np.setdiff1d(held, sell_idx))
        slots = self.topk - remaining
        if len(selected) == 0 or slots <= 0:
            return orders

        weights = s[selected] ** 2 / np.sum(s[selected] ** 2)
        investable = acc.cash * self.max_position_ratio
        cand = ~np.isin(selected, held)
        p = price[selected]
        with np.errstate(invalid="ignore"):
            ok = cand & (p >= self.min_trade_price) & (p <= self.max_trade_price) & ex.has_quote(t)[selected]
            change = np.abs(ex.change(t)[selected])
            ok &= ~(change > 0.2)
        buy = selected[ok][:slots]
        w, p = weights[ok][:slots], price[buy]
        # value / deal price is already in the exchange's unit (adjusted amount in Qlib mode, shares in A-share
        # mode); only the share cap needs converting.
        amount = np.minimum(np.minimum(investable * w, self.max_single_order_value), acc.cash) / p
        amount = ex.round_buy(t, buy, amount)
        cap = ex.round_buy(t, buy, ex.to_exchange_amount(t, buy, np.full(len(buy), self.max_single_order_amount)))
        amount = np.minimum(amount, cap)
        keep = amount > 0
        orders.buy_idx, orders.buy_amount = buy[keep], amount[keep]
        orders.buy_reason = np.full(int(keep.sum()), REASON_CODE["entry"])
        return orders


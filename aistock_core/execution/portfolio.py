"""Portfolio engine: target weights → target shares in whole lots, against the account's real equity.

Weights come from the strategy (non-negative, per instrument). The engine caps each name (``max_weight``), keeps
a cash reserve (the weights are scaled so that at most ``1 − cash_reserve`` of equity is invested) and rounds each
target holding down to what the board allows to buy (`aistock_core.trading.rules`: 100-share lots; STAR 200 then
steps of 1). Rounding down is deliberate: the leftover stays cash instead of overspending.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from aistock_core.errors import StrategyError
from aistock_core.execution.domain import AccountSnapshot
from aistock_core.trading.rules import lot_rules, round_buy_shares


@dataclass(frozen=True)
class PortfolioParams:
    """``cash_reserve``: fraction of equity never invested; ``max_weight``: cap per name (after scaling)."""

    cash_reserve: float = 0.02
    max_weight: float = 0.3

    def __post_init__(self) -> None:
        if not 0 <= self.cash_reserve < 1:
            raise StrategyError(f"cash_reserve must be in [0, 1), got {self.cash_reserve}")
        if not 0 < self.max_weight <= 1:
            raise StrategyError(f"max_weight must be in (0, 1], got {self.max_weight}")


def scaled_weights(weights: pd.Series, params: PortfolioParams) -> pd.Series:
    """Weights capped per name, then scaled down (never up) so that their sum is at most 1 − cash_reserve."""
    w = pd.Series(weights, dtype=float)
    if w.isna().any() or (w < 0).any():
        bad = list(w.index[w.isna() | (w < 0)][:5])
        raise StrategyError(f"target weights must be non-negative numbers; bad for {bad}")
    w = w.clip(upper=params.max_weight)
    budget = 1.0 - params.cash_reserve
    total = float(w.sum())
    return w * (budget / total) if total > budget else w


def target_shares(
    weights: pd.Series, account: AccountSnapshot, prices: pd.Series, params: PortfolioParams
) -> pd.Series:
    """Target shares per symbol (int64): weight × equity ÷ price, rounded down to a buyable lot.

    Equity is the account's cash plus its positions marked at ``prices``. A name without a price keeps its
    current holding (nothing can be sized for it).
    """
    w = scaled_weights(weights, params)
    symbols = w.index.union(pd.Index(list(account.positions)))
    px = pd.Series(prices, dtype=float).reindex(symbols)
    equity = account.equity(px.dropna().to_dict())
    raw = (w.reindex(symbols).fillna(0.0) * equity / px).to_numpy()
    min_lot, step = lot_rules(symbols)
    shares = round_buy_shares(np.nan_to_num(raw), min_lot, step)
    held = np.array([account.volume(s) for s in symbols], dtype=float)
    shares = np.where(np.isnan(px.to_numpy()), held, shares)
    return pd.Series(shares.astype(np.int64), index=pd.Index(symbols, name="symbol"), name="target")

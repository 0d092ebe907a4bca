"""Target diffs → signals: one signal per name whose weight must change, with its expected return and risk.

Pure numpy/pandas over one instance and one slot (no database), so every formula is checkable by hand:

- ``direction``: buy when the target weight is above the current one, else sell; ``signal_type``: ``entry``
  (not held), ``exit`` (target 0), ``increase`` / ``reduce`` otherwise. A change below `MIN_WEIGHT_CHANGE` of
  the account is noise (lot rounding) and makes no signal, unless it closes a holding.
- ``strength``: |target − current| weight, the fraction of the account the signal moves.
- ``confidence``: the score's percentile in the day's cross-section (1 − percentile for sells), in [0, 1].
- ``expected_return`` (one session, signed for the direction: what the signal expects to earn): Grinold's
  ``IC × σ × z`` — the score's cross-sectional z-score times the cross-section's std of the last session's
  returns times the information coefficient (the loop's research IC when known, else `DEFAULT_IC`).
- ``risk_score``: the name's percentile of 20-session realised volatility in the cross-section, in [0, 1].
- ``suggested_price``: the last raw close; ``suggested_quantity``: the weight change × account value / price in
  whole lots (a sell of the whole holding keeps an odd lot); ``stop_loss`` / ``take_profit``: 2σ against and
  3σ with the direction, σ the name's daily volatility.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from aistock_core.data.service import DataService
from aistock_core.trading.rules import lot_rules, round_buy_shares, round_sell_shares

#: Weight changes below this fraction of the account make no signal (a few lots of rounding).
MIN_WEIGHT_CHANGE = 0.002
#: Information coefficient when the research loop reports none (the demo market's rank IC is about 0.035).
DEFAULT_IC = 0.05
#: Sessions of returns behind the volatility figures.
VOL_WINDOW = 20
STOP_SIGMAS, TARGET_SIGMAS = 2.0, 3.0


@dataclass(frozen=True)
class MarketView:
    """What a generator knows about the names at decision time: last raw close, daily volatility over
    `VOL_WINDOW`, the last session's return, all indexed by symbol (NaN: unknown)."""

    close: pd.Series
    vol: pd.Series
    last_return: pd.Series

    @classmethod
    def load(cls, service: DataService, symbols: list[str], day: pd.Timestamp) -> MarketView:
        """From the daily bars up to ``day`` (raw closes; returns on the adjusted view so splits are not moves)."""
        if not symbols:
            empty = pd.Series(dtype=float)
            return cls(empty, empty, empty)
        panel = service.get_panel(symbols, end=day, bars=VOL_WINDOW + 1, fields=["close"], adjust=None)
        adjusted = service.get_panel(symbols, end=day, bars=VOL_WINDOW + 1, fields=["close"], adjust="qlib")
        raw = pd.DataFrame(panel["close"], index=panel.dates, columns=panel.instruments).astype(float)
        adj = pd.DataFrame(adjusted["close"], index=adjusted.dates, columns=adjusted.instruments).astype(float)
        returns = adj.pct_change(fill_method=None).iloc[1:]
        return cls(raw.ffill().iloc[-1], returns.std(ddof=1), returns.iloc[-1])


def _percentile(values: pd.Series) -> pd.Series:
    """Average-rank percentile in (0, 1]; NaN stays NaN."""
    return values.rank(pct=True, method="average")


def generate(instance: str, env: str, day: pd.Timestamp, slot: str, targets: pd.Series, held: pd.Series,
             cash: float, scores: pd.Series, market: MarketView, *, ic: float = DEFAULT_IC,
             source: str = "target_positions") -> pd.DataFrame:
    """Signals of one instance for ``slot`` of ``day`` (see the module docstring for every column).

    ``targets``: weight by symbol; ``held``: shares by symbol; ``scores``: the decision day's cross-section
    (any universe; names without a score get confidence and expected return NaN)."""
    held = held[held > 0]
    symbols = targets.index[targets > 0].union(held.index).sort_values()
    price = market.close.reindex(symbols)
    value = float(cash + (held.reindex(symbols).fillna(0.0) * price.fillna(0.0)).sum())
    current = (held.reindex(symbols).fillna(0.0) * price / value) if value > 0 else price * 0.0
    target = targets.reindex(symbols).fillna(0.0)
    delta = target - current.fillna(0.0)
    closing = (target == 0) & held.reindex(symbols).fillna(0).gt(0)
    keep = (delta.abs() >= MIN_WEIGHT_CHANGE) | closing
    symbols, delta, target = symbols[keep], delta[keep], target[keep]
    if len(symbols) == 0:
        return pd.DataFrame(columns=["instance", "env", "trading_day", "slot", "symbol", "direction"])
    buy = (delta > 0).to_numpy()
    sign = np.where(buy, 1.0, -1.0)
    owned = held.reindex(symbols).fillna(0.0).to_numpy(float)
    px = price.reindex(symbols).to_numpy(float)
    min_lot, step = lot_rules(symbols)
    want = np.where(np.isfinite(px) & (px > 0), np.abs(delta.to_numpy()) * value / np.where(px > 0, px, 1.0), 0.0)
    want = np.where(closing[keep].to_numpy(), owned, want)
    quantity = np.where(buy, round_buy_shares(want, min_lot, step),
                        round_sell_shares(np.minimum(want, owned), owned, step))

    z = (scores - scores.mean()) / scores.std(ddof=1) if scores.size > 1 else scores * np.nan
    pct = _percentile(scores).reindex(symbols).to_numpy(float)
    dispersion = float(market.last_return.std(ddof=1)) if market.last_return.notna().sum() > 1 else np.nan
    sigma = market.vol.reindex(symbols).to_numpy(float)
    risk = _percentile(market.vol).reindex(symbols).to_numpy(float)
    was = current.reindex(symbols).fillna(0.0).to_numpy(float)
    kind = np.select([was == 0, target.to_numpy() == 0], ["entry", "exit"],
                     default=np.where(buy, "increase", "reduce"))
    return pd.DataFrame({
        "instance": instance, "env": env, "trading_day": pd.Timestamp(day).date(), "slot": slot,
        "symbol": list(symbols), "direction": np.where(buy, "buy", "sell"), "signal_type": kind, "source": source,
        "strength": np.abs(delta.to_numpy(float)),
        "confidence": np.where(buy, pct, 1.0 - pct),
        "expected_return": sign * ic * dispersion * z.reindex(symbols).to_numpy(float),
        "risk_score": risk,
        "suggested_quantity": quantity, "suggested_price": px,
        "stop_loss": px * (1.0 - sign * STOP_SIGMAS * sigma),
        "take_profit": px * (1.0 + sign * TARGET_SIGMAS * sigma),
    })


def validation(signals: pd.DataFrame, active: bool) -> pd.Series:
    """Why each signal fails the pre-trade checks ("" when it passes): the instance is stopped, the name has
    no price (suspended or unlisted), or the size rounds to zero lots."""
    if signals.empty:
        return pd.Series(dtype=object)
    reason = np.select(
        [np.full(len(signals), not active), ~np.isfinite(signals["suggested_price"].to_numpy(float)),
         signals["suggested_quantity"].to_numpy(float) <= 0],
        ["instance is not running", "no price (suspended or not listed)", "size rounds to zero lots"], default="")
    return pd.Series(reason, index=signals.index)

"""Corporate actions as (session × instrument) grids: the cash dividend and the bonus + transfer shares each old
share receives on its ex-date.

Two sources (the data service's ``corporate_actions`` view picks one):

* **A table** (a CSV/Parquet of ex-date, cash per share, bonus and transfer shares per share, e.g. xtquant's
  dividend data exported to those columns): real entitlements. Bonus shares are credited in whole shares and
  list (become sellable) the next session; cash dividends are taxed on sale.
* **The adjustment factor**, where that is all a source has. Convention: a factor step ``r = f_t / f_prev`` on
  day t is read as ``r − 1`` bonus shares per share, no cash. The holding then becomes ``shares × r`` and the
  reference price ``prev_close / r`` — the position's value is continuous at the ex-rights reference price, and
  holding it is what Qlib's adjusted-amount position does (so the two backtest modes agree on a held stock).
  The entitlement is neither rounded nor held back from sale (a factor step has no real share count or listing
  date behind it: the holding is only re-denominated).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from aistock_core.trading.prices import previous_valid

#: Columns of the corporate-actions view, per share of the old holding.
ACTION_COLUMNS = ("cash", "bonus")
#: A factor ratio closer to 1 than this is float noise, not an action.
_FACTOR_NOISE = 1e-7


def bonus_from_factor(factor: np.ndarray) -> np.ndarray:
    """(T, N) cumulative factor → (T, N) bonus shares per share on the rows where the factor steps (0 elsewhere).

    A step is measured against the last known factor before the row (a suspension's NaN rows are skipped); the
    first row has no previous factor, so no action.
    """
    factor = np.asarray(factor, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        bonus = factor / previous_valid(factor) - 1.0
    return np.where(np.abs(bonus) > _FACTOR_NOISE, bonus, 0.0)  # NaN (no factor, or none before) compares False


@dataclass(frozen=True)
class CorporateActions:
    """The day's action per old share on each (session, instrument) cell; zeros where nothing happens.

    ``from_table``: real entitlements (bonus shares in whole shares, sellable from the next session) rather than
    the factor convention (exact, sellable at once).
    """

    cash: np.ndarray
    bonus: np.ndarray
    from_table: bool

    @classmethod
    def from_factor(cls, factor: np.ndarray) -> CorporateActions:
        bonus = bonus_from_factor(factor)
        return cls(cash=np.zeros_like(bonus), bonus=bonus, from_table=False)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, dates: pd.DatetimeIndex, instruments: pd.Index,
                   *, from_table: bool) -> CorporateActions:
        """Grids from the view's frame (index ``(datetime, instrument)``, columns `ACTION_COLUMNS`); rows outside
        ``dates × instruments`` are ignored."""
        shape = (len(dates), len(instruments))
        cash, bonus = np.zeros(shape), np.zeros(shape)
        if len(frame):
            t = dates.get_indexer(frame.index.get_level_values("datetime"))
            i = instruments.get_indexer(frame.index.get_level_values("instrument"))
            ok = (t >= 0) & (i >= 0)
            cash[t[ok], i[ok]] = frame["cash"].to_numpy(dtype=np.float64)[ok]
            bonus[t[ok], i[ok]] = frame["bonus"].to_numpy(dtype=np.float64)[ok]
        return cls(cash=cash, bonus=bonus, from_table=from_table)

    def describe(self) -> str:
        """One line saying where the actions came from and how they are credited (for reports)."""
        if self.from_table:
            return "table: bonus shares in whole shares, listed next session; cash dividends taxed on sale"
        return "factor convention: a factor step r is r - 1 bonus shares per share, no cash (value continuous)"

    def rows(self) -> np.ndarray:
        """Sessions on which some instrument has an action."""
        return np.flatnonzero(((self.cash != 0) | (self.bonus != 0)).any(axis=1))

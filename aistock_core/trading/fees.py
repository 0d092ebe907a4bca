"""What trading costs an A-share account: broker and exchange fees per order, and the dividend tax by holding
period. Pure functions over arrays of trade values.

The fee schedule is what a broker bills: commission with a 5-yuan floor, stamp duty on sells only (0.1% before
2023-08-28, 0.05% from then), and the exchange transfer fee on both sides. Cash dividends are taxed by how long
the shares were held when they are sold (Ministry of Finance 2015 No. 101): up to one month 20%, one month to one
year 10%, over one year nothing; the tax is collected on sale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Stamp duty was halved on this day (Ministry of Finance announcement of 2023-08-27).
STAMP_DUTY_CUT = pd.Timestamp("2023-08-28")
#: Dividend tax rates: held at most one month, at most one year, longer.
DIVIDEND_TAX = (0.20, 0.10, 0.0)


@dataclass(frozen=True)
class AshareFees:
    """Broker and exchange fees; rates are fractions of the traded value."""

    commission: float = 0.00025
    min_commission: float = 5.0
    stamp_duty_before: float = 0.001
    stamp_duty_after: float = 0.0005
    transfer_fee: float = 0.00001

    def stamp_duty(self, day: pd.Timestamp) -> float:
        return self.stamp_duty_before if pd.Timestamp(day) < STAMP_DUTY_CUT else self.stamp_duty_after

    def cost(self, value: np.ndarray, day: pd.Timestamp, *, sell: bool) -> np.ndarray:
        """Total fees per order; zero for orders that dealt nothing."""
        value = np.asarray(value, dtype=np.float64)
        fees = np.maximum(value * self.commission, self.min_commission) + value * self.transfer_fee
        if sell:
            fees = fees + value * self.stamp_duty(day)
        return np.where(value <= 1e-5, 0.0, fees)

    def order_cost(self, value: float, day: pd.Timestamp, *, sell: bool) -> float:
        """`cost` of one order, as a float: the execution layer sizes and checks orders one at a time, where
        wrapping each value in an array costs more than the arithmetic (same operations, same result)."""
        if value <= 1e-5:
            return 0.0
        fees = max(value * self.commission, self.min_commission) + value * self.transfer_fee
        return fees + value * self.stamp_duty(day) if sell else fees

    def buy_rate(self) -> float:
        """Proportional fee rate of a buy (above the commission floor): what sizing a buy to cash divides by."""
        return self.commission + self.transfer_fee

    @classmethod
    def zero(cls) -> AshareFees:
        """No fees at all (comparisons with a frictionless reference)."""
        return cls(commission=0.0, min_commission=0.0, stamp_duty_before=0.0, stamp_duty_after=0.0, transfer_fee=0.0)


def dividend_tax_rate(opened: np.ndarray, sold: pd.Timestamp) -> np.ndarray:
    """Tax rate on dividends of shares held since ``opened`` (datetime64 days) and sold on ``sold``.

    "One month" and "one year" are calendar periods: held ≤ 1 month when ``sold <= opened + 1 month``.
    """
    opened = pd.DatetimeIndex(np.asarray(opened, dtype="datetime64[ns]"))
    sold = pd.Timestamp(sold)
    month = sold <= opened + pd.DateOffset(months=1)
    year = sold <= opened + pd.DateOffset(years=1)
    return np.where(month, DIVIDEND_TAX[0], np.where(year, DIVIDEND_TAX[1], DIVIDEND_TAX[2]))

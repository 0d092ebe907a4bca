"""A-share trading costs, as pure functions over arrays of trade values (Qlib mode's ``max(value × rate,
min_cost)`` per order lives in `qlib_mode`, inside its order-by-order booking).

The A-share schedule is what a broker bills: commission with a 5-yuan floor, stamp duty on sells only (0.1%
before 2023-08-28, 0.05% from then), and the exchange transfer fee on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Stamp duty was halved on this day (Ministry of Finance announcement of 2023-08-27).
STAMP_DUTY_CUT = pd.Timestamp("2023-08-28")


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

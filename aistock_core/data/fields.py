"""Field names (bare lower-case: ``open high low close volume amount vwap factor`` …) and adjustment views
(``qlib``: price × factor, volume ÷ factor; ``qfq``: factor normalised to the window's last day; None: raw)."""

from __future__ import annotations

from typing import Literal

#: Bare lower-case daily fields every provider speaks (Qlib expressions say ``$close``; map at that boundary).
PRICE_FIELDS = ("open", "high", "low", "close", "vwap")
DAILY_FIELDS = ("open", "high", "low", "close", "volume", "amount", "vwap", "factor")
#: Optional extras a provider may know; ``change`` is close/prev_close-1 on raw prices.
EXTRA_FIELDS = ("change", "limit_up", "limit_down", "suspended", "st")
ALL_FIELDS = DAILY_FIELDS + EXTRA_FIELDS

Adjust = Literal["qlib", "qfq"] | None
ADJUST_VIEWS: tuple[Adjust, ...] = ("qlib", "qfq", None)

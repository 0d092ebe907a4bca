"""Qlib's own exchange model (region cn), the market the research was backtested in.

Qlib's rules are not the exchange's: a stock is "at the limit" when ``|$change| ≥ 0.095`` whatever its board,
every trade costs ``max(value × rate, min_cost)`` with one rate per side, and lots are 100 adjusted shares. The
Qlib-compatible backtest must reproduce them to the bit, so they are kept here, beside the real A-share rules
(`rules`, `fees`) and clearly apart from them. The defaults are Qlib 0.9.7's (``qlib.config`` region cn and
``qlib.backtest.exchange.Exchange.__init__``); tests pin them against that source.
"""

from __future__ import annotations

from dataclasses import dataclass

from aistock_core.errors import StrategyError


@dataclass(frozen=True)
class QlibExchangeConfig:
    """Qlib's ``exchange_kwargs`` (defaults are Qlib's for region cn)."""

    limit_threshold: float | None = 0.095
    deal_price: str = "close"
    open_cost: float = 0.0015
    close_cost: float = 0.0025
    min_cost: float = 5.0
    impact_cost: float = 0.0
    trade_unit: int | None = 100

    def __post_init__(self) -> None:
        if self.deal_price.lstrip("$") != "close":
            raise StrategyError(
                f"deal_price {self.deal_price!r} is not supported: the backtest deals at the close "
                f"(RD-Agent's templates use deal_price: close)"
            )


#: The costs RD-Agent's Qlib templates set (``exchange_kwargs`` of its ``conf_*.yaml``: open 0.05%, close
#: 0.15%, minimum 5 yuan; limit threshold and trade unit left at Qlib's defaults): what research KPIs assume.
RDAGENT_EXCHANGE = QlibExchangeConfig(open_cost=0.0005, close_cost=0.0015, min_cost=5.0)

"""Where an instance's target weights for a session come from.

A `TargetSource` is any callable ``(instance, session) → Series`` of weights by symbol (fractions of the
account's total value, summing to at most 1). `StrategyTargets` is the default: the strategy box's
``next_day_targets`` (what the ``target_positions`` asset stores) for the instance's strategy block and signal,
computed on the sessions before the trading session, so a preview decides with what was known the evening
before, as the real account would.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cached_property
from typing import Any

import pandas as pd

from aistock_core.config import get_settings
from aistock_core.data.service import DataService
from aistock_core.errors import ConfigError
from aistock_core.preview.instances import PreviewInstance
from aistock_core.specs import load_specs
from aistock_core.strategy.backtest.market import load_market
from aistock_core.strategy.config import strategy_from_config
from aistock_core.strategy.signals import DEFAULT_SIGNAL, signal_scores
from aistock_core.strategy.targets import next_day_targets

TargetSource = Callable[[PreviewInstance, pd.Timestamp], pd.Series]


def configured_strategy_block() -> dict[str, Any]:
    """The strategy block of the configured target-positions backtest (`aistock_core.specs`: a specs file, else
    the demo's): what the ``target_positions`` asset trades, so an instance without its own block previews it."""
    spec = load_specs(get_settings()).targets_spec()
    if spec is None:
        raise ConfigError("no backtest is configured (AISTOCK_SPECS_FILE has no [[backtest]]): give the preview "
                          "instance its own strategy block (params.strategy)")
    return spec.strategy


def strategy_block(instance: PreviewInstance, default: dict[str, Any]) -> dict[str, Any]:
    """The instance's Qlib strategy block: ``params["strategy"]``, else ``default`` (`configured_strategy_block`)
    with ``params["topk"]`` / ``params["n_drop"]`` overrides."""
    block = instance.params.get("strategy")
    if block:
        return block
    kwargs = {**default.get("kwargs", {}), **{k: instance.params[k] for k in ("topk", "n_drop")
                                              if k in instance.params}}
    return {**default, "kwargs": kwargs}


class StrategyTargets:
    """Target weights from the strategy box, cached per (strategy block, signal, universe, session)."""

    def __init__(self, service: DataService, universe: str = "all", lookback: int = 60) -> None:
        self.service, self.universe, self.lookback = service, universe, lookback
        self._cache: dict[tuple, pd.Series] = {}

    @cached_property
    def default_block(self) -> dict[str, Any]:
        """`configured_strategy_block`, read once: when an instance without its own block first needs it."""
        return configured_strategy_block()

    def __call__(self, instance: PreviewInstance, session: pd.Timestamp) -> pd.Series:
        block = instance.params.get("strategy") or strategy_block(instance, self.default_block)
        signal = instance.params.get("signal", DEFAULT_SIGNAL)
        universe = instance.params.get("universe", self.universe)
        key = (json.dumps(block, sort_keys=True), signal, universe, pd.Timestamp(session))
        if key not in self._cache:
            cal = self.service.calendar
            last = cal.previous(session)
            market = load_market(self.service, universe, cal.offset(last, -self.lookback), last, benchmark=None)
            scores = signal_scores(self.service, universe, market.dates[0], last, signal)
            targets = next_day_targets(market, scores, strategy_from_config(block), pd.Timestamp(session))
            self._cache[key] = targets["weight"][targets["weight"] > 0]
        return self._cache[key]

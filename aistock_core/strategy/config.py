"""Strategies and backtest settings from RD-Agent's catalog entries (rdagent.md §3.2, §9).

The strategy catalog's ``portfolio_config`` is Qlib's strategy block ``{class, module_path, kwargs}``; its
``backtest_config`` is ``{start_time, end_time, account, benchmark, exchange_kwargs{...}}``. Unknown kwargs are
an error naming them: silently ignoring one (a ``hold_thresh`` typo) would backtest a different strategy from
the one researched.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from aistock_core.codes import to_internal
from aistock_core.errors import InstrumentError, StrategyError
from aistock_core.strategy.base import Strategy
from aistock_core.strategy.enhanced import EnhancedTopkDropoutStrategy
from aistock_core.strategy.topk import TopkDropoutStrategy
from aistock_core.strategy.weights import WeightedTopkStrategy
from aistock_core.trading.qlib_rules import QlibExchangeConfig

#: Class names (as Qlib/RD-Agent configs spell them) and CLI aliases → our implementations.
STRATEGIES: dict[str, type] = {
    "TopkDropoutStrategy": TopkDropoutStrategy,
    "EnhancedTopkDropoutStrategy": EnhancedTopkDropoutStrategy,
    "WeightedTopkStrategy": WeightedTopkStrategy,
    "topk-dropout": TopkDropoutStrategy,
    "enhanced-topk-dropout": EnhancedTopkDropoutStrategy,
    "topk-equal": WeightedTopkStrategy,
    "topk-score": WeightedTopkStrategy,
}
#: Kwargs Qlib strategies take that do not change decisions here (the signal is supplied separately).
_IGNORED = frozenset({"signal", "model", "dataset"})


def _build(cls: type, kwargs: Mapping[str, Any], where: str) -> Strategy:
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(kwargs) - known - _IGNORED)
    if unknown:
        raise StrategyError(
            f"{where}: unknown kwarg(s) {unknown} for {cls.__name__}; accepted: {sorted(known)}"
        )
    try:
        return cls(**{k: v for k, v in kwargs.items() if k in known})
    except TypeError as exc:
        raise StrategyError(f"{where}: cannot build {cls.__name__}: {exc}") from exc


def strategy_from_config(block: Mapping[str, Any]) -> Strategy:
    """Build a strategy from Qlib's ``{class, module_path, kwargs}`` block (module_path is informative)."""
    if not isinstance(block, Mapping) or "class" not in block:
        raise StrategyError(f"strategy block must be a mapping with 'class' (and 'kwargs'), got {block!r}")
    name = str(block["class"])
    cls = STRATEGIES.get(name)
    if cls is None:
        raise StrategyError(f"strategy class {name!r} is not supported; known: {sorted(STRATEGIES)}")
    kwargs = block.get("kwargs") or {}
    if not isinstance(kwargs, Mapping):
        raise StrategyError(f"strategy {name!r}: kwargs must be a mapping, got {type(kwargs).__name__}")
    return _build(cls, kwargs, f"strategy {name!r}")


def named_strategy_block(name: str, **kwargs: Any) -> dict[str, Any]:
    """The strategy block of a CLI name (``topk-dropout``, ``enhanced-topk-dropout``, ``topk-equal``,
    ``topk-score``) with the command line's kwargs: what `strategy_from_config` builds and a spec records."""
    if name not in STRATEGIES:
        raise StrategyError(f"unknown strategy {name!r}; choose from {sorted(STRATEGIES)}")
    if name == "topk-score":
        kwargs.setdefault("method", "score")
    if STRATEGIES[name] is WeightedTopkStrategy:
        kwargs.pop("n_drop", None)
    return {"class": name, "kwargs": kwargs}


def strategy_by_name(name: str, **kwargs: Any) -> Strategy:
    """CLI form: ``topk-dropout``, ``enhanced-topk-dropout``, ``topk-equal``, ``topk-score``."""
    return strategy_from_config(named_strategy_block(name, **kwargs))


@dataclass(frozen=True)
class BacktestSettings:
    """Qlib's ``port_analysis_config.backtest`` block, validated."""

    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    account: float = 1e8
    benchmark: str | None = "000300.SH"
    exchange: QlibExchangeConfig = field(default_factory=QlibExchangeConfig)

    @classmethod
    def from_qlib(cls, block: Mapping[str, Any] | None) -> BacktestSettings:
        block = dict(block or {})
        known = {"start_time", "end_time", "account", "benchmark", "exchange_kwargs", "verbose", "pos_type"}
        unknown = sorted(set(block) - known)
        if unknown:
            raise StrategyError(f"backtest_config: unknown key(s) {unknown}; accepted: {sorted(known)}")
        ex_kwargs = dict(block.get("exchange_kwargs") or {})
        ex_fields = {f.name for f in dataclasses.fields(QlibExchangeConfig)}
        bad = sorted(set(ex_kwargs) - ex_fields - {"freq", "codes"})
        if bad:
            raise StrategyError(f"backtest_config.exchange_kwargs: unknown key(s) {bad}; accepted: {sorted(ex_fields)}")
        bench = block.get("benchmark", "000300.SH")
        try:
            bench = to_internal(bench) if bench else None
        except InstrumentError as exc:
            raise StrategyError(f"backtest_config.benchmark: {exc}") from exc
        try:
            return cls(
                start=pd.Timestamp(block["start_time"]) if block.get("start_time") else None,
                end=pd.Timestamp(block["end_time"]) if block.get("end_time") else None,
                account=float(block.get("account", 1e8)),
                benchmark=bench,
                exchange=QlibExchangeConfig(**{k: v for k, v in ex_kwargs.items() if k in ex_fields}),
            )
        except (TypeError, ValueError) as exc:
            raise StrategyError(f"backtest_config is invalid: {exc}") from exc

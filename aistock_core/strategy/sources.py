"""Target weights of a strategy instance for a session, from its source, computed once per source and session.

A `TargetSource` is what a preview or trading instance records about where its targets come from: a catalog
loop (``RUN/LOOP``) or strategy id, a model reference (``NAME@champion``, ``NAME/3``, ``NAME``) and parameters
(``topk``/``n_drop`` overrides, a whole ``strategy`` block, a fallback ``signal`` expression). `TargetEngine`
turns it into weights the way the ``target_positions`` asset does — the day-before scores, the strategy block
replayed over a look-back window (`strategy.targets.next_day_targets`) — so an instance decides on session S with
what was known at the close of the session before, as a real account would.

Resolution, in order:

* **strategy block**: ``params["strategy"]``; else the catalog strategy (``--strategy``, or the ``--loop``'s);
  else the pipeline's own (the specs' targets backtest); then ``params`` ``topk``/``n_drop`` override its kwargs.
* **scores** of the decision day (the session before S): with a model reference, that model's ``model_scores``
  from the Parquet store, else scored by the registered model that may score the day (`scoring.model_for_day`:
  no look-ahead); without one, the champion's stored ``model_scores``; without those, the fallback signal
  (``params["signal"]``, else the pipeline's), as ``target_positions`` does.
* an instance with no source of its own (no loop, strategy, model or parameters) takes the stored
  ``target_positions`` of the decision day as they are: exactly what the pipeline computed.

Why the caches: dozens of instances share a handful of sources. Scores and market windows are cached per
(score source, universe, decision day), weights per (resolved source, session); top-k variants of one model
then cost one score read and a replay of a few milliseconds each (``benchmarks/bench_preview_targets.py``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from aistock_core.data.service import DataService
from aistock_core.data.store import ParquetStore
from aistock_core.db import Database
from aistock_core.errors import StrategyError
from aistock_core.strategy.backtest.market import MarketData, load_market
from aistock_core.strategy.config import strategy_from_config
from aistock_core.strategy.signals import DEFAULT_SIGNAL, signal_scores
from aistock_core.strategy.targets import next_day_targets

#: Store datasets written by the models and strategy boxes (``model_scores``, ``target_positions`` assets).
SCORES_DATASET = "model_scores"
TARGETS_DATASET = "target_positions"


@dataclass(frozen=True)
class TargetSource:
    """Where an instance's targets come from (see the module docstring)."""

    loop: str | None = None
    strategy_id: str | None = None
    model: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, instance: Any) -> TargetSource:
        """The source recorded on a preview or trading instance (attributes it lacks count as unset)."""
        params = getattr(instance, "params", None) or {}
        return cls(getattr(instance, "loop", None), getattr(instance, "strategy_id", None),
                   getattr(instance, "model", None), {k: v for k, v in params.items() if k in SOURCE_PARAMS})

    @property
    def plain(self) -> bool:
        """No source of its own: the pipeline's ``target_positions`` are its targets."""
        return not (self.loop or self.strategy_id or self.model or self.params)


#: Instance parameters that change the targets (others, such as ``fees``, only change the fills).
SOURCE_PARAMS = ("strategy", "topk", "n_drop", "signal", "universe")


@dataclass(frozen=True)
class Recipe:
    """A resolved source: the strategy block, the score source (``model:REF`` or ``signal:EXPR``), the universe."""

    block: dict[str, Any]
    scores: str
    universe: str

    @property
    def key(self) -> str:
        return json.dumps([self.block, self.scores, self.universe], sort_keys=True)


def model_name(ref: str) -> str:
    """``NAME@alias`` / ``NAME/version`` / ``NAME`` → ``NAME``."""
    return re.split(r"[@/]", ref, maxsplit=1)[0]


def catalog_block(db: Database, *, loop: str | None = None, strategy_id: str | None = None) -> dict[str, Any]:
    """The Qlib strategy block of a catalog strategy, or of the strategy a catalog loop (``RUN/LOOP``) ran."""
    from aistock_core.db.models.research import ResearchLoop, ResearchStrategy

    with db.session() as session:
        if loop:
            run, _, loop_id = loop.rpartition("/")
            row = session.get(ResearchLoop, (run, int(loop_id))) if run and loop_id.isdigit() else None
            if row is None:
                raise StrategyError(f"no catalog loop {loop!r} (give RUN/LOOP as `aistock catalog list loops` shows "
                                    "it; run `aistock catalog sync` first)")
            strategy_id = row.strategy_id
        strategy = session.get(ResearchStrategy, strategy_id) if strategy_id else None
        if strategy is None:
            raise StrategyError(f"no catalog strategy {strategy_id!r}" + (f" (of loop {loop})" if loop else "")
                                + "; see `aistock catalog list strategies`")
        block = (strategy.payload or {}).get("portfolio_config")
        if not block:
            block = {"class": strategy.strategy_class or "TopkDropoutStrategy",
                     "kwargs": {k: v for k, v in (("topk", strategy.topk), ("n_drop", strategy.n_drop)) if v}}
        return json.loads(json.dumps(block))


class TargetEngine:
    """Weights per (source, session), sharing scores, market windows and results between instances.

    ``store``: the Parquet store holding ``model_scores`` / ``target_positions`` (None: always compute).
    ``tracking_uri``: the model registry, for a model whose scores of the day are not stored.
    ``default_block``: the pipeline's strategy block. ``db``: the catalog, for loop and strategy sources.
    An engine is meant to live for one run (a day's trades of every instance); it never reads "today".
    """

    def __init__(self, service: DataService, default_block: Mapping[str, Any] | None, *, universe: str = "all",
                 store: ParquetStore | None = None, db: Database | None = None, tracking_uri: str | None = None,
                 signal: str = DEFAULT_SIGNAL, lookback: int = 60) -> None:
        self.service, self.default_block, self.universe, self.signal = service, default_block, universe, signal
        self.store, self.db, self.tracking_uri, self.lookback = store, db, tracking_uri, lookback
        self._recipes: dict[str, Recipe] = {}
        self._scores: dict[tuple, pd.Series] = {}
        self._markets: dict[tuple, MarketData] = {}
        self._weights: dict[tuple, pd.Series] = {}

    def __call__(self, instance: Any, session) -> pd.Series:
        """The `SignalPreviewEngine` target callable: the weights of ``instance``'s source on ``session``."""
        return self.weights(TargetSource.of(instance), session)

    def weights(self, source: TargetSource, session) -> pd.Series:
        """Positive weights by instrument (fractions of total value) to hold after trading on ``session``."""
        session = pd.Timestamp(session).normalize()
        if source.plain:
            stored = self._stored_targets(session)
            if stored is not None:
                return stored
        recipe = self.recipe(source)
        key = (recipe.key, session)
        if key not in self._weights:
            last = self.service.calendar.previous(session)
            scores = self.scores(recipe.scores, recipe.universe, last)
            market = self._market(recipe.universe, scores.index.get_level_values("datetime").min(), last)
            targets = next_day_targets(market, scores, strategy_from_config(recipe.block), session)
            self._weights[key] = targets["weight"][targets["weight"] > 0].rename("weight")
        return self._weights[key]

    @property
    def sources(self) -> int:
        """Distinct resolved sources computed so far (instances sharing one count once)."""
        return len({recipe.key for recipe in self._recipes.values()})

    def recipe(self, source: TargetSource) -> Recipe:
        key = json.dumps([source.loop, source.strategy_id, source.model, dict(source.params)], sort_keys=True)
        if key not in self._recipes:
            self._recipes[key] = self._resolve(source)
        return self._recipes[key]

    def _resolve(self, source: TargetSource) -> Recipe:
        params = source.params
        if params.get("strategy"):
            block = json.loads(json.dumps(params["strategy"]))
        elif source.loop or source.strategy_id:
            if self.db is None:
                raise StrategyError(f"source {source.loop or source.strategy_id!r} names the catalog, but no "
                                    "database was given to read it")
            block = catalog_block(self.db, loop=source.loop, strategy_id=source.strategy_id)
        elif self.default_block is not None:
            block = json.loads(json.dumps(self.default_block))
        else:
            raise StrategyError("this instance names no strategy (no --loop, --strategy or params strategy) and the "
                                "specs configure no targets backtest to take it from")
        overrides = {k: int(params[k]) for k in ("topk", "n_drop") if params.get(k) is not None}
        block["kwargs"] = {**(block.get("kwargs") or {}), **overrides}
        strategy_from_config(block)  # a bad block is refused when the source is resolved, not mid-run
        if source.model:
            scores = f"model:{source.model}"
        elif params.get("signal"):
            scores = f"signal:{params['signal']}"
        else:
            scores = "champion"
        return Recipe(block, scores, str(params.get("universe") or self.universe))

    def scores(self, ref: str, universe: str, last: pd.Timestamp) -> pd.Series:
        """Scores by (datetime, instrument) ending on the decision day ``last`` (see the module docstring)."""
        key = (ref, universe, last)
        if key not in self._scores:
            self._scores[key] = self._load_scores(ref, universe, last)
        return self._scores[key]

    def _load_scores(self, ref: str, universe: str, last: pd.Timestamp) -> pd.Series:
        kind, _, arg = ref.partition(":")
        start = self.service.calendar.offset(last, -self.lookback)
        if kind in ("model", "champion"):
            stored = self._stored_scores(start, last, model_name(arg) if arg else None)
            if stored is not None:
                return stored
        if kind == "model":
            if self.tracking_uri is None:
                raise StrategyError(f"no stored model_scores of {arg} for {last:%Y-%m-%d} and no model registry "
                                    "to score it; materialise model_scores first")
            from aistock_core.models.scoring import model_for_day

            served = model_for_day(self.tracking_uri, model_name(arg), last, self.service.calendar)
            return served.score(self.service, last, last, universe)
        expression = arg if kind == "signal" else self.signal
        market = self._market(universe, start, last)
        return signal_scores(self.service, universe, market.dates[0], last, expression)

    def _stored_scores(self, start: pd.Timestamp, last: pd.Timestamp, name: str | None) -> pd.Series | None:
        """Stored ``model_scores`` over [start, last] (of model ``name`` if given), or None when ``last`` has none."""
        if self.store is None or last not in self.store.partitions(SCORES_DATASET):
            return None
        frame = self.store.read_range(SCORES_DATASET, start, last)
        if name is not None and "model" in frame.columns:
            frame = frame[frame["model"] == name]
        if frame.empty or pd.Timestamp(frame["datetime"].max()) != last:
            return None
        return frame.set_index(["datetime", "instrument"])["score"].astype(float).sort_index()

    def _stored_targets(self, session: pd.Timestamp) -> pd.Series | None:
        """The ``target_positions`` written on the session before ``session`` for ``session``, if any."""
        last = self.service.calendar.previous(session)
        if self.store is None or last not in self.store.partitions(TARGETS_DATASET):
            return None
        frame = self.store.read_partition(TARGETS_DATASET, last)
        if "instrument" not in frame.columns:  # written with its instrument index (the asset's frame)
            frame = frame.reset_index()
        if "next_session" in frame.columns and not (pd.to_datetime(frame["next_session"]) == session).all():
            return None
        weights = frame.set_index("instrument")["weight"].astype(float)
        return weights[weights > 0].rename("weight")

    def _market(self, universe: str, start, last: pd.Timestamp) -> MarketData:
        key = (universe, pd.Timestamp(start), last)
        if key not in self._markets:
            self._markets[key] = load_market(self.service, universe, start, last, benchmark=None)
        return self._markets[key]


def target_engine(settings: Any, service: DataService, db: Database | None = None,
                  store: ParquetStore | None = None) -> TargetEngine:
    """The engine of the configured pipelines: the specs' targets strategy and universe, the store, the registry."""
    from aistock_core.specs import load_specs

    spec = load_specs(settings).targets_spec()
    return TargetEngine(service, spec.strategy if spec else None,
                        universe=(spec.universe if spec else None) or settings.market,
                        store=store if store is not None else ParquetStore(settings.store_dir), db=db,
                        tracking_uri=settings.tracking_uri, signal=spec.signal if spec else DEFAULT_SIGNAL)

"""Score days with a registered model: the same handler features, the fitted infer processors, the booster.

Before any score is computed the feature columns are checked against the model's recorded order: a model
fed shifted columns still returns numbers, so a mismatch is an error naming the first differing column.
"""

from __future__ import annotations

import json
import pickle
import tempfile
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from aistock_core.errors import ModelError
from aistock_core.factors.engine import FactorEngine
from aistock_core.models.config import HandlerSpec, parse_workflow
from aistock_core.models.dataset import handler_engine, load_raw
from aistock_core.models.processors import Processor
from aistock_core.models.tracking import META, PROCESSORS, require_store, resolve, session


def check_feature_order(expected: list[str], actual: list[str], where: str = "features") -> None:
    """Same names in the same order, or a `ModelError` naming the first position that differs."""
    if list(expected) == list(actual):
        return
    for k, (want, got) in enumerate(zip(expected, actual, strict=False)):
        if want != got:
            raise ModelError(f"{where}: column {k} is {got!r} but the model expects {want!r} "
                             f"({len(actual)} columns given, {len(expected)} expected); rebuild the features "
                             "with the model's handler")
    raise ModelError(f"{where}: {len(actual)} columns given but the model expects {len(expected)} (first "
                     f"missing/extra: {(list(expected) + list(actual))[min(len(expected), len(actual))]!r})")


@dataclass
class ServedModel:
    """A registered model ready to score: booster, recorded meta and fitted infer processors."""

    name: str
    version: str
    run_id: str
    booster: Any
    meta: dict[str, Any]
    processors: list[Processor]

    @classmethod
    def load(cls, uri: str, ref: str) -> ServedModel:
        """The registry's ``ref`` (``NAME``, ``NAME@alias``, ``NAME/version``) from tracking store ``uri``.

        The reference is resolved on every call (an alias may have moved), the version itself is loaded once
        per process: a registered version never changes, and downloading and parsing it costs far more than
        scoring a day with it.
        """
        require_store(uri, ref)
        with session(uri) as c:
            mv = resolve(c, ref)
        return _load_version(uri, mv.name, str(mv.version), mv.run_id)

    @property
    def features(self) -> list[str]:
        return list(self.meta["features"])

    @cached_property
    def handler(self) -> HandlerSpec:
        return parse_workflow(self.meta["workflow"]).dataset.handler

    @cached_property
    def engine(self) -> FactorEngine:
        """The handler's expressions parsed and planned once for every day this model scores."""
        return handler_engine(self.handler)

    def features_for(self, service, start, end, instruments=None) -> pd.DataFrame:
        """The model's input frame for sessions [start, end]: handler features, infer processors applied."""
        handler = replace(self.handler, start_time=pd.Timestamp(start), end_time=pd.Timestamp(end),
                          instruments=self.handler.instruments if instruments is None else instruments)
        frame = load_raw(service, handler, self.engine)
        for proc in self.processors:
            frame = proc(frame)
        check_feature_order(self.features, frame.names["feature"])
        return frame.to_frame("feature")

    def score(self, service, start, end, instruments=None) -> pd.Series:
        """Scores indexed by (datetime, instrument), sorted."""
        features = self.features_for(service, start, end, instruments)
        scores = pd.Series(self.booster.predict(features.to_numpy()), index=features.index, name="score")
        return scores.sort_index()


@lru_cache(maxsize=32)
def _load_version(uri: str, name: str, version: str, run_id: str) -> ServedModel:
    from aistock_core.models.flavours import load_predictor

    with session(uri) as c, tempfile.TemporaryDirectory() as tmp:
        local = Path(c.download_artifacts(run_id, "aistock", tmp))
        meta = json.loads((local / META).read_text())
        booster = load_predictor(meta, f"models:/{name}/{version}", local)
        with open(local / PROCESSORS, "rb") as f:  # written by tracking.log_training: our own objects
            processors = pickle.load(f)
    return ServedModel(name, version, run_id, booster, meta, processors)


def last_bar_read(calendar, meta: dict[str, Any]) -> pd.Timestamp:
    """The last session a model's training read: its last labelled day plus the label's look-ahead."""
    from aistock_core.factors.engine import lookback_of, parse_all

    horizon = lookback_of(parse_all(meta["label"]).values())[1]
    last_labelled = pd.Timestamp(max(end for _, end in meta["window"].values()))
    return calendar.offset(last_labelled, horizon)


def model_for_day(uri: str, name: str, day, calendar) -> ServedModel:
    """The model that may score ``day``: the champion when its training read only bars before ``day``, else
    the newest registered version that did (walk-forward: a later retrain never scores an earlier day)."""
    from aistock_core.models.tracking import CHAMPION, client

    day = pd.Timestamp(day)
    champion = ServedModel.load(uri, f"{name}@{CHAMPION}")
    if last_bar_read(calendar, champion.meta) < day:
        return champion
    versions = sorted((int(v.version) for v in client(uri).search_model_versions(f"name='{name}'")), reverse=True)
    for version in versions:
        served = champion if str(version) == champion.version else ServedModel.load(uri, f"{name}/{version}")
        if last_bar_read(calendar, served.meta) < day:
            return served
    raise ModelError(f"every version of {name} was trained on bars from {day:%Y-%m-%d} or later; retrain one "
                     "before that day (walk-forward) to score it")

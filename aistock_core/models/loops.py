"""A research loop's model on the execution side: its exported model, our retrain of it, and its stock selection.

A synced loop (`aistock catalog sync`) carries the Qlib blocks research trained with (model catalog:
``model_config``/``dataset_config``), its strategy block (strategy catalog: ``portfolio_config``), its recorded
IC, and a production bundle that may hold the trained model (``model.txt``, ``params.pkl``, ``model.pkl`` with
``model_meta.json``). `loop_scores` scores a day with that exported model when there is one — the loop's real
inference — else with our retrain of the same workflow, registered as `registry_name`; `select` turns the
scores into the loop's own target weights with our implementation of its strategy class.

Pickles are code: one is opened only for a loop a person reviewed and marked as a paper/live candidate
(``aistock catalog mark loop KEY --candidate paper``), and then through `exported`'s allow-list unpickler.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import numpy as np
import pandas as pd

from aistock_core.errors import CalendarError, ModelError

#: Exported model files in a bundle, most preferred first (a text model needs no trust; a pickle does).
EXPORTED_FILES = ("model.txt", "params.pkl", "model.pkl")
Source = Literal["auto", "exported", "retrained"]


def parse_loop_key(key: str) -> tuple[str, int]:
    run_id, _, loop = str(key).rpartition("/")
    if not run_id or not loop.isdigit():
        raise ModelError(f"loop {key!r} must be '<task_run_id>/<loop_id>', e.g. 'ab12…/3' (see `aistock catalog list "
                         "loops`)")
    return run_id, int(loop)


def registry_name(task_run_id: str, loop_id: int) -> str:
    """The MLflow registry name of our retrain of a loop's workflow."""
    return f"loop_{task_run_id}_{loop_id}"


@dataclass(frozen=True)
class ExportedModel:
    """The loop's trained model as research exported it: file name, bytes and its ``model_meta.json``."""

    name: str
    data: bytes
    meta: dict[str, Any] | None

    def booster(self, *, trusted: bool):
        from aistock_core.models.exported import load_booster

        with tempfile.TemporaryDirectory() as tmp:  # load_booster reads a path and tells formats by suffix
            path = Path(tmp) / self.name
            path.write_bytes(self.data)
            return load_booster(path, trusted=trusted)


@dataclass(frozen=True)
class LoopModel:
    """What the execution side needs of one synced loop to score and select stocks."""

    task_run_id: str
    loop_id: int
    model_config: dict[str, Any]
    dataset_config: dict[str, Any]
    strategy: dict[str, Any]
    research_ic: float | None
    exported: ExportedModel | None
    trusted: bool

    @property
    def key(self) -> str:
        return f"{self.task_run_id}/{self.loop_id}"

    @property
    def registry_name(self) -> str:
        return registry_name(self.task_run_id, self.loop_id)

    def workflow(self) -> dict[str, Any]:
        return {"model_config": self.model_config, "dataset_config": self.dataset_config}


def _exported(files: dict[str, str], blobs) -> ExportedModel | None:
    """The preferred exported model among ``files`` (bundle path → sha256), with the meta beside it."""
    by_name: dict[str, str] = {}
    for path in sorted(files):
        by_name.setdefault(PurePosixPath(path).name, path)
    for name in EXPORTED_FILES:
        if name in by_name:
            path = PurePosixPath(by_name[name])
            meta_path = str(path.with_name("model_meta.json"))
            meta = None
            if meta_path in files:
                try:
                    meta = json.loads(blobs.get(files[meta_path]))
                except ValueError as exc:
                    raise ModelError(f"{meta_path} in the loop's bundle is not valid JSON: {exc}") from None
            return ExportedModel(name, blobs.get(files[str(path)]), meta)
    return None


def load_loop(db, key: str, blobs) -> LoopModel:
    """The synced loop ``key`` (``task_run_id/loop_id``): its blocks, recorded IC, exported model and trust."""
    from sqlalchemy import select as sql

    from aistock_core.db.models.research import (
        ResearchBundleFile,
        ResearchLoop,
        ResearchMark,
        ResearchModel,
        ResearchStrategy,
    )

    run_id, loop_id = parse_loop_key(key)
    with db.session() as s:
        loop = s.get(ResearchLoop, (run_id, loop_id))
        if loop is None or loop.removed_at is not None:
            raise ModelError(f"loop {key} is not in the synced catalog; see `aistock catalog list loops` (or run "
                             "`aistock catalog sync`)")
        model = s.execute(sql(ResearchModel).where(
            ResearchModel.task_run_id == run_id, ResearchModel.loop_id == loop_id,
            ResearchModel.removed_at.is_(None))).scalars().first()
        if model is None or not (model.payload or {}).get("model_config") or not model.payload.get("dataset_config"):
            raise ModelError(f"loop {key} has no model_config/dataset_config in the model catalog: there is no "
                             "model to run for it")
        strategy = s.get(ResearchStrategy, loop.strategy_id) if loop.strategy_id else None
        block = (strategy.payload or {}).get("portfolio_config") if strategy is not None else None
        if not block:
            raise ModelError(f"loop {key} has no strategy block (strategy catalog portfolio_config): its target "
                             "weights cannot be computed")
        files = {f.path: f.sha256 for f in s.execute(sql(ResearchBundleFile).where(
            ResearchBundleFile.asset_bundle_id == loop.asset_bundle_id,
            ResearchBundleFile.removed_at.is_(None))).scalars()} if loop.asset_bundle_id else {}
        mark = s.get(ResearchMark, ("loop", key))
        ic = (loop.payload or {}).get("ic")
        return LoopModel(
            task_run_id=run_id, loop_id=loop_id, model_config=dict(model.payload["model_config"]),
            dataset_config=dict(model.payload["dataset_config"]), strategy=dict(block),
            research_ic=float(ic) if isinstance(ic, int | float) else None, exported=_exported(files, blobs),
            trusted=mark is not None and mark.candidate is not None,
        )


@dataclass(frozen=True)
class LoopScores:
    """A day's scores (index instrument) and which model made them."""

    scores: pd.Series
    source: str  # "exported" | "retrained"
    model: str  # the exported file name, or NAME/version in the registry


def _handler(loop: LoopModel):
    from aistock_core.models.config import parse_workflow

    return parse_workflow(loop.workflow()).dataset.handler


def exported_scores(service, loop: LoopModel, day, instruments) -> LoopScores:
    """The loop's exported model on our features for ``day`` (infer processors fitted as research fitted them),
    after the feature order is checked against its ``model_meta.json``."""
    from aistock_core.models.dataset import infer_features
    from aistock_core.models.exported import expected_features, score_exported

    if loop.exported is None:
        raise ModelError(f"loop {loop.key} has no exported model in its bundle (looked for "
                         f"{', '.join(EXPORTED_FILES)})")
    handler = _handler(loop)
    expected = expected_features(loop.exported.meta) if loop.exported.meta else list(handler.features)
    booster = loop.exported.booster(trusted=loop.trusted)
    features = infer_features(service, handler, day, day, instruments)
    scores = score_exported(booster, features, expected).droplevel("datetime")
    return LoopScores(scores, "exported", loop.exported.name)


def retrained_scores(service, loop: LoopModel, day, instruments, uri: str) -> LoopScores:
    """Our registered retrain of the loop (the version that may score ``day``: trained on earlier bars only)."""
    from aistock_core.models.scoring import model_for_day
    from aistock_core.models.tracking import client, store_exists

    # a missing store holds no retrain: say so without opening it (that would create it)
    if not store_exists(uri) or not client(uri).search_registered_models(f"name='{loop.registry_name}'"):
        raise ModelError(f"loop {loop.key} has no exported model and no retrained one ({loop.registry_name} is not "
                         "in the registry); retrain it with `aistock models select --retrain`")
    served = model_for_day(uri, loop.registry_name, day, service.calendar)
    scores = served.score(service, day, day, instruments).droplevel("datetime")
    return LoopScores(scores, "retrained", f"{served.name}/{served.version}")


def retrain(service, loop: LoopModel, *, uri: str, experiment: str = "aistock",
            artifact_root: str | None = None) -> str:
    """Train the loop's workflow on our data (Qlib-exactly) and register it as `registry_name`; the version.

    The run records the loop key and research's IC; the comparison with that IC is the Dagster check's (a
    retrain on other data may legitimately land elsewhere), the champion checks here are the usual ones.
    """
    from aistock_core.models.config import parse_workflow
    from aistock_core.models.tracking import log_training
    from aistock_core.models.train import train

    result = train(parse_workflow(loop.workflow()), service)
    logged = log_training(result, uri=uri, experiment=experiment, model_name=loop.registry_name,
                          artifact_root=artifact_root, tags={"aistock.loop": loop.key,
                                                              "aistock.research_ic": str(loop.research_ic)})
    if logged.version is None:
        raise ModelError(f"the retrain of loop {loop.key} failed its checks and was not registered: "
                         f"{'; '.join(logged.failed_checks.values())}")
    return logged.version


def loop_scores(service, loop: LoopModel, day, instruments, *, uri: str, source: Source = "auto") -> LoopScores:
    """``source="auto"``: the exported model when the bundle has one, else our retrain."""
    if source not in ("auto", "exported", "retrained"):
        raise ModelError(f"model source {source!r} is not 'auto', 'exported' or 'retrained'")
    if source == "exported" or (source == "auto" and loop.exported is not None):
        return exported_scores(service, loop, day, instruments)
    return retrained_scores(service, loop, day, instruments, uri)


def check_session(service, day) -> pd.Timestamp:
    """``day`` as a session of the data's calendar, or one clear error."""
    try:
        ts = pd.Timestamp(day)
    except ValueError:
        raise ModelError(f"--date {day!r} is not a date (use YYYY-MM-DD)") from None
    if not service.calendar.is_session(ts):
        raise ModelError(f"{ts:%Y-%m-%d} is not a trading session (see `aistock calendar`); pick a session")
    if ts not in service.resolve_dates():
        raise ModelError(f"{ts:%Y-%m-%d} is a session but the data has no bars for it yet")
    return ts


def select(service, loop: LoopModel, scored: LoopScores, day, universe, account: float = 1e8) -> pd.DataFrame:
    """Candidates ranked by score (1 = best) with the target weight the loop's strategy gives each for the next
    session, starting from no holdings (index instrument; columns score, rank, weight, shares)."""
    from aistock_core.strategy.backtest.market import load_market
    from aistock_core.strategy.config import strategy_from_config
    from aistock_core.strategy.targets import next_day_targets

    strategy = strategy_from_config(loop.strategy)
    day = pd.Timestamp(day)
    market = load_market(service, universe, day, day, benchmark=None)
    scores = scored.scores.dropna()
    index = pd.MultiIndex.from_arrays([pd.DatetimeIndex([day] * len(scores)), scores.index],
                                      names=["datetime", "instrument"])
    # the next session only dates the simulated row; a data calendar that ends on ``day`` does not know it yet
    try:
        next_day = service.calendar.next(day)
    except CalendarError:
        next_day = day + pd.Timedelta(days=1)
    targets = next_day_targets(market, pd.Series(scores.to_numpy(), index=index), strategy, next_day, account)
    out = pd.DataFrame({"score": scores})
    out["rank"] = out["score"].rank(ascending=False, method="first").astype(np.int64)
    out = out.join(targets[["weight", "shares"]]).fillna({"weight": 0.0, "shares": 0.0})
    out.index.name = "instrument"
    return out.sort_values("rank")


def rank_agreement(a: pd.Series, b: pd.Series) -> tuple[float, int]:
    """Spearman correlation of two score series over their common non-NaN names, and how many there were."""
    both = pd.concat([a.rename("a"), b.rename("b")], axis=1, join="inner").dropna()
    if len(both) < 3:
        return float("nan"), len(both)
    return float(both["a"].rank().corr(both["b"].rank())), len(both)

"""Stock selection for a synced research loop: its exported model, our retrain of it, its strategy's weights.

The demo export is synced into a fresh catalog after three of its loops are given an Alpha158 + LGBModel
workflow research could have run (trained here, exactly as research would, on the same synthetic market):
one with a LightGBM text model, one whose ``model_meta.json`` lists the features in another order, one with a
pickle only. Scores are checked against features computed by the factor engine directly, weights against
the top-k of the scores, and every failure must leave the MLflow registry empty.
"""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aistock_core.db import Database
from aistock_core.demo.export import LOOPS
from aistock_core.errors import ModelError
from aistock_core.factors.alpha158 import alpha158_expressions
from aistock_core.factors.engine import compute_frame
from aistock_core.models import loops
from aistock_core.models.config import parse_workflow
from aistock_core.models.train import train
from aistock_core.research.bundles import BlobStore
from aistock_core.research.export_dir import ExportDirSource
from aistock_core.research.marks import set_mark
from aistock_core.research.sync import sync
from tests.aistock_core.models.loop_export import alpha158_schema, patch_loop, set_strategy

DAY = pd.Timestamp("2025-03-31")  # after the research test segment (+ label horizon): the retrain may score it
#: No valid segment: LightGBM then keeps all 40 rounds (no early stop), so the scores rarely tie.
SEGMENTS = {"train": ["2024-01-02", "2024-10-31"], "test": ["2024-11-01", "2025-01-24"]}
#: The loops' strategy block, replaced in the fixture's strategy catalog (the demo's is an enhanced TopkDropout
#: whose min_score no score of this small model reaches).
STRATEGY = {"class": "TopkDropoutStrategy", "module_path": "qlib.contrib.strategy",
            "kwargs": {"signal": "<PRED>", "topk": 10, "n_drop": 2}}


def research_workflow() -> dict:
    handler = {"class": "Alpha158", "module_path": "qlib.contrib.data.handler", "kwargs": {
        "start_time": "2024-01-02", "end_time": "2025-01-24", "fit_start_time": "2024-01-02",
        "fit_end_time": "2024-07-31", "instruments": "all"}}
    return {"model_config": {"class": "LGBModel", "module_path": "qlib.contrib.model.gbdt", "kwargs": {
                "loss": "mse", "learning_rate": 0.1, "num_leaves": 15, "num_threads": 1, "num_boost_round": 40,
                "early_stopping_rounds": 10, "deterministic": True, "force_row_wise": True}},
            "dataset_config": {"class": "DatasetH", "module_path": "qlib.data.dataset",
                               "kwargs": {"handler": handler, "segments": SEGMENTS}}}


@pytest.fixture(scope="module")
def world(demo_service, demo_export_master, tmp_path_factory):
    root = tmp_path_factory.mktemp("loops")
    export = Path(shutil.copytree(demo_export_master, root / "export"))
    wf = research_workflow()
    booster = train(parse_workflow(wf), demo_service).model.booster
    text = booster.model_to_string().encode()
    last_day = demo_service.resolve_dates()[-1]
    names = list(alpha158_expressions())
    keys = {
        "text": patch_loop(export, 11, last_day, LOOPS[1], wf, {"model.txt": text},
                           {"feature_schema": alpha158_schema()}),
        "swapped": patch_loop(export, 11, last_day, LOOPS[2], wf, {"model.txt": text},
                              {"feature_schema": alpha158_schema([names[1], names[0], *names[2:]])}),
        "pickle": patch_loop(export, 11, last_day, LOOPS[3], wf, {"params.pkl": pickle.dumps(booster)},
                             {"feature_schema": alpha158_schema()}),
    }
    set_strategy(export, STRATEGY)
    db = Database(f"sqlite:///{root / 'app.db'}")
    sync(db, ExportDirSource(export), root / "blobs")
    return {"db": db, "blobs": BlobStore(root / "blobs"), "uri": f"sqlite:///{root / 'mlflow.db'}",
            "booster": booster, **keys}


def _registered(uri: str) -> list[str]:
    from aistock_core.models.tracking import client

    return [m.name for m in client(uri).search_registered_models()]


def test_exported_model_scores_engine_features_and_the_strategy_picks_its_top_k(world, demo_service):
    loop = loops.load_loop(world["db"], world["text"], world["blobs"])
    assert loop.exported is not None and loop.exported.name == "model.txt"
    scored = loops.loop_scores(demo_service, loop, DAY, "all", uri=world["uri"])
    assert scored.source == "exported"
    # independently: the engine's Alpha158 columns for the day, fed to the booster research trained
    features = compute_frame(demo_service, "all", alpha158_expressions(), start=DAY, end=DAY).droplevel("datetime")
    expected = pd.Series(world["booster"].predict(features.to_numpy()), index=features.index)
    assert np.array_equal(scored.scores.sort_index().to_numpy(), expected.sort_index().to_numpy())

    table = loops.select(demo_service, loop, scored, DAY, "all")
    topk = loop.strategy["kwargs"]["topk"]
    assert list(table["rank"]) == list(range(1, len(table) + 1))
    assert table["score"].is_monotonic_decreasing
    chosen = set(table.index[table["weight"] > 0])
    close = compute_frame(demo_service, "all", {"c": "$close"}, start=DAY, end=DAY)["c"].droplevel("datetime")
    tradable = set(close.index[close.notna()])
    top = set(expected.sort_values(ascending=False).index[:topk])
    assert len(top & tradable) >= topk - 2 and chosen == top & tradable
    assert 0.9 * len(chosen) / topk < table["weight"].sum() < 0.96  # risk_degree 0.95 of the value after costs
    assert _registered(world["uri"]) == []


def test_retrain_registers_and_agrees_with_the_exported_model(world, demo_service, tmp_path):
    loop = loops.load_loop(world["db"], world["text"], world["blobs"])
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with pytest.raises(ModelError, match="no retrained one"):
        loops.loop_scores(demo_service, loop, DAY, "all", uri=uri, source="retrained")
    version = loops.retrain(demo_service, loop, uri=uri, artifact_root=(tmp_path / "art").as_uri())
    assert version == "1" and _registered(uri) == [loop.registry_name]
    mine = loops.loop_scores(demo_service, loop, DAY, "all", uri=uri, source="retrained")
    theirs = loops.loop_scores(demo_service, loop, DAY, "all", uri=uri, source="exported")
    assert mine.source == "retrained" and mine.model == f"{loop.registry_name}/1"
    corr, n = loops.rank_agreement(mine.scores, theirs.scores)
    assert n == len(theirs.scores) > 40 and corr > 0.999


def test_each_bad_input_is_one_clear_error_and_registers_nothing(world, demo_service):
    uri, db, blobs = world["uri"], world["db"], world["blobs"]
    with pytest.raises(ModelError, match="not in the synced catalog"):
        loops.load_loop(db, "deadbeef/9", blobs)
    with pytest.raises(ModelError, match="must be '<task_run_id>/<loop_id>'"):
        loops.load_loop(db, "no-slash", blobs)
    with pytest.raises(ModelError, match="not a trading session"):
        loops.check_session(demo_service, "2025-03-29")  # a Saturday
    swapped = loops.load_loop(db, world["swapped"], blobs)
    with pytest.raises(ModelError, match=r"column 0 is 'KMID' but the model expects 'KLEN'"):
        loops.loop_scores(demo_service, swapped, DAY, "all", uri=uri)
    pickled = loops.load_loop(db, world["pickle"], blobs)
    assert pickled.exported.name == "params.pkl" and not pickled.trusted
    with pytest.raises(ModelError, match="not marked trusted"):
        loops.loop_scores(demo_service, pickled, DAY, "all", uri=uri)
    assert _registered(uri) == []


def test_a_marked_loop_opens_its_pickle(world, demo_service):
    set_mark(world["db"], "loop", world["pickle"], candidate="paper", who="test")
    pickled = loops.load_loop(world["db"], world["pickle"], world["blobs"])
    assert pickled.trusted
    scored = loops.loop_scores(demo_service, pickled, DAY, "all", uri=world["uri"])
    text = loops.loop_scores(demo_service, loops.load_loop(world["db"], world["text"], world["blobs"]), DAY, "all",
                             uri=world["uri"])
    assert np.array_equal(scored.scores.to_numpy(), text.scores.to_numpy())


def test_rank_agreement_detects_a_wrong_model():
    idx = pd.Index([f"{i:06d}.SZ" for i in range(100)])
    a = pd.Series(np.arange(100.0), index=idx)
    assert loops.rank_agreement(a, a * 2 + 1) == (pytest.approx(1.0), 100)
    assert loops.rank_agreement(a, -a)[0] == pytest.approx(-1.0)
    assert loops.rank_agreement(a, a.iloc[::-1].set_axis(a.index[::-1]) ** 3)[0] == pytest.approx(1.0)
    assert np.isnan(loops.rank_agreement(a.iloc[:2], a.iloc[:2])[0])

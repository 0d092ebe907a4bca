"""``exported_agreement`` (on ``model_scores``): the research loop's exported model must rank the day like the champion.

The champion of a small retrain is exported as a loop's ``model.txt`` (what research would hand over for the
same workflow): the check passes with Spearman ~1. A second loop exports a model trained to invert the
champion's ranking: the check fails, blocking.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import dagster as dg
import lightgbm as lgb

from aistock_core.config import get_settings
from aistock_core.db import Database
from aistock_core.demo.export import LOOPS
from aistock_core.models.scoring import ServedModel
from aistock_core.research.defaults import blob_root
from aistock_core.research.export_dir import ExportDirSource
from aistock_core.research.sync import sync
from aistock_pipelines.defs.models.assets import build_model_scores
from aistock_pipelines.defs.models.checks import build_exported_agreement_check
from tests.aistock_core.models.loop_export import alpha158_schema, patch_loop
from tests.aistock_pipelines.defs.models.test_model_assets import DAY, RETRAIN, _retrain, resources  # noqa: F401

WORKFLOW = {"model_config": {"class": "LGBModel", "kwargs": {"loss": "mse"}},
            "dataset_config": {"class": "DatasetH", "kwargs": {
                "handler": {"class": "Alpha158", "kwargs": {"instruments": "all", "start_time": "2020-01-02",
                                                            "end_time": "2020-12-31"}},
                "segments": {"train": ["2020-01-02", "2020-12-31"]}}}}


def _scores_and_check(spec, resources):  # noqa: F811 - the fixture's name, passed on
    scores = build_model_scores(spec)
    result = dg.materialize([scores, build_exported_agreement_check(spec, scores)], resources=resources,
                            partition_key=DAY, raise_on_error=False)
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


def test_agreement_passes_for_the_research_model_and_blocks_a_wrong_one(resources, demo_export_master,  # noqa: F811
                                                                         demo_service, tmp_path):
    assert _retrain(RETRAIN, resources)[0].success
    settings = get_settings()
    champion = ServedModel.load(settings.tracking_uri, f"{RETRAIN.name}@champion")
    service = resources["data"].get_service()
    x = champion.features_for(service, "2021-01-04", "2021-01-29").to_numpy()
    wrong = lgb.train({"objective": "regression", "verbosity": -1, "num_threads": 1, "deterministic": True},
                      lgb.Dataset(x, label=-champion.booster.predict(x)), num_boost_round=60)

    export = Path(shutil.copytree(demo_export_master, tmp_path / "export"))
    last_day = demo_service.resolve_dates()[-1]
    meta = {"feature_schema": alpha158_schema()}
    good = patch_loop(export, 11, last_day, LOOPS[1], WORKFLOW,
                      {"model.txt": champion.booster.model_to_string().encode()}, meta)
    bad = patch_loop(export, 11, last_day, LOOPS[2], WORKFLOW, {"model.txt": wrong.model_to_string().encode()}, meta)
    sync(Database(settings.sqlalchemy_url), ExportDirSource(export), blob_root(settings))

    evaluation = _scores_and_check(replace(RETRAIN, loop=good), resources)
    assert evaluation.passed and evaluation.metadata["spearman"].value > 0.999, evaluation.description
    stored = resources["store"].get_store().read_partition("model_scores", DAY)
    assert evaluation.metadata["names"].value == len(stored) > 20

    evaluation = _scores_and_check(replace(RETRAIN, loop=bad), resources)
    assert not evaluation.passed and evaluation.metadata["spearman"].value < 0
    assert "does not reproduce the research model" in evaluation.description

    evaluation = _scores_and_check(RETRAIN, resources)  # no loop named: nothing to compare, said so
    assert evaluation.passed and "names no research loop" in evaluation.description

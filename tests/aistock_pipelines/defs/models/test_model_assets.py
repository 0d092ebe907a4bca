"""Model box through Dagster on a small synthetic market: retrain → champion → daily scores → target weights."""

from __future__ import annotations

import dagster as dg
import pytest

from aistock_core.config import get_settings
from aistock_core.models.tracking import client
from aistock_pipelines.defs.models.assets import RetrainSpec, build_model_scores, build_trained_model
from aistock_pipelines.defs.models.checks import build_feature_alignment_check, build_trained_model_check
from aistock_pipelines.defs.strategy.assets import build_target_positions
from aistock_pipelines.resources import DataServiceResource, StoreResource
from tests.aistock_pipelines.defs.strategy.test_strategy_defs import SPEC as STRATEGY

SMALL_LGB = {"loss": "mse", "learning_rate": 0.1, "num_leaves": 15, "num_threads": 1, "num_boost_round": 40,
             "early_stopping_rounds": 10, "deterministic": True, "force_row_wise": True}
RETRAIN = RetrainSpec(name="small_lgb", model_kwargs=SMALL_LGB, train_sessions=150, valid_sessions=40)
MONTH, DAY = "2021-02-01", "2021-02-03"


@pytest.fixture
def resources(aistock_home, tmp_path, monkeypatch):
    monkeypatch.setenv("AISTOCK_SYNTHETIC_START", "2020-01-02")
    monkeypatch.setenv("AISTOCK_SYNTHETIC_END", "2021-03-31")
    get_settings.cache_clear()
    return {"data": DataServiceResource(data_source="synthetic", synthetic_seed=4, synthetic_instruments=30),
            "store": StoreResource(root=str(tmp_path / "store"))}


def _retrain(spec, resources, month=MONTH):
    asset = build_trained_model(spec)
    result = dg.materialize([asset, build_trained_model_check(spec, asset)], resources=resources,
                            partition_key=month, raise_on_error=False)
    return result, result.get_asset_check_evaluations()[0]


def test_retrain_scores_and_targets(resources):
    result, evaluation = _retrain(RETRAIN, resources)
    assert result.success and evaluation.passed
    md = result.asset_materializations_for_node("trained_model")[0].metadata
    assert md["version"].value == "1" and md["retrain_day"].value == MONTH
    assert md["data_end"].value == "2021-01-29"  # the session before the retrain day: nothing later is read

    scores = build_model_scores(RETRAIN)
    result = dg.materialize([scores, build_feature_alignment_check(RETRAIN, scores)], resources=resources,
                            partition_key=DAY)
    assert result.success
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.passed and evaluation.metadata["max_abs_err"].value <= 1e-9
    stored = resources["store"].get_store().read_partition("model_scores", DAY)
    listed = resources["data"].get_service().get_panel("all", start=DAY, end=DAY, fields=["close"]).listed
    assert len(stored) == int(listed.sum()) > 20 and stored["score"].nunique() > 1 and set(stored["version"]) == {"1"}

    targets = dg.materialize([build_target_positions(STRATEGY, lookback=20)], resources=resources,
                             partition_key=DAY)
    md = targets.asset_materializations_for_node("target_positions")[0].metadata
    assert md["score_source"].value == "model_scores"
    weights = resources["store"].get_store().read_partition("target_positions", DAY)
    held = set(weights.index[weights["weight"] > 0])
    assert held and held <= set(stored["instrument"])
    # TopkDropout refills with the day's best-scored names: the held set is driven by the model's ranking
    assert len(held & set(stored.nlargest(8, "score")["instrument"])) >= 2


def test_target_positions_fall_back_with_a_warning(resources):
    result = dg.materialize([build_target_positions(STRATEGY, lookback=20)], resources=resources,
                            partition_key=DAY)
    md = result.asset_materializations_for_node("target_positions")[0].metadata
    assert md["score_source"].value.startswith("fallback")


def test_each_day_is_scored_by_a_model_that_never_saw_it(resources):
    """Walk-forward: January's retrain (v1) then February's (v2, champion). A January day is scored by v1 (v2
    read bars up to 2021-01-29); a day before every retrain's data end is refused."""
    assert _retrain(RETRAIN, resources, "2021-01-01")[0].success
    assert _retrain(RETRAIN, resources, MONTH)[0].success
    result = dg.materialize([build_model_scores(RETRAIN)], resources=resources, partition_key="2021-01-20")
    assert result.success
    assert set(resources["store"].get_store().read_partition("model_scores", "2021-01-20")["version"]) == {"1"}
    result = dg.materialize([build_model_scores(RETRAIN)], resources=resources, partition_key="2020-12-31",
                            raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "trained on bars from 2020-12-31 or later" in failure.step_failure_data.error.to_string()


def test_retrain_far_from_research_ic_is_blocked_and_not_registered(resources):
    spec = RetrainSpec(name="strict_lgb", model_kwargs=SMALL_LGB, train_sessions=150, valid_sessions=40,
                       research_ic=0.9, ic_tolerance=0.05)
    result, evaluation = _retrain(spec, resources)
    md = result.asset_materializations_for_node("trained_model")[0].metadata
    assert md["version"].value == "not registered" and "research_ic" in md["failed_checks"].value
    assert not evaluation.passed and "research loop's recorded IC 0.9" in evaluation.description
    assert client(get_settings().tracking_uri).search_model_versions("name='strict_lgb'") == []


def test_ptnn_retrain_registers_a_champion_that_scores(resources):
    """The network retrain (GeneralPTNN over our audited MLP file) becomes its own champion and scores a day."""
    import dataclasses

    import numpy as np

    from aistock_core.models.scoring import ServedModel
    from aistock_pipelines.defs.models.assets import PTNN_RETRAIN

    spec = dataclasses.replace(PTNN_RETRAIN, name="small_ptnn", experiment="small_ptnn", train_sessions=150,
                               valid_sessions=40, model_kwargs={**PTNN_RETRAIN.model_kwargs, "batch_size": 256})
    result, evaluation = _retrain(spec, resources)
    assert result.success and evaluation.passed, evaluation.description
    meta = result.asset_materializations_for_node(spec.asset)[0].metadata
    assert meta["version"].value == "1"
    served = ServedModel.load(get_settings().tracking_uri, "small_ptnn")
    scores = served.score(resources["data"].get_service(), DAY, DAY)
    assert len(scores) > 20 and np.isfinite(scores.to_numpy()).all() and scores.std() > 0

"""Exported research models: Qlib LGBModel pickles, LightGBM text, feature order, untrusted/malicious pickles."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from aistock_core.errors import ModelError
from aistock_core.factors.alignment import qlib_available
from aistock_core.models.config import parse_workflow
from aistock_core.models.exported import expected_features, load_booster, score_exported
from aistock_core.models.train import train
from tests.aistock_core.models.workflows import workflow


@pytest.fixture(scope="module")
def trained(market_service):
    return train(parse_workflow(workflow()), market_service)


@pytest.fixture(scope="module")
def test_features(trained):
    return trained.dataset.prepare("test", "feature", "infer")


def _meta(workflow_mapping: dict) -> dict:
    """model_meta.json as RD-Agent writes it (contract §4.4): feature_schema null, the dataset block."""
    task = workflow_mapping["task"]
    return {"model_type": "LGBModel", "model_conf": task["model"], "dataset_conf": task["dataset"],
            "feature_schema": None, "preprocess_config": {"normalize": "zscore"}}


@pytest.mark.qlib
@pytest.mark.skipif(not qlib_available(), reason="pyqlib builds the reference pickle")
def test_qlib_lgbmodel_pickle_scores_like_the_retrain(trained, test_features, tmp_path):
    from qlib.contrib.model.gbdt import LGBModel as QlibLGBModel

    model = QlibLGBModel(loss="mse")
    model.model = trained.model.booster
    path = tmp_path / "params.pkl"
    path.write_bytes(pickle.dumps(model))
    booster = load_booster(path, trusted=True)
    scores = score_exported(booster, test_features, expected_features(_meta(workflow())))
    assert np.array_equal(scores.to_numpy(), trained.predictions["test"].to_numpy())


def test_lightgbm_text_model(trained, test_features, tmp_path):
    path = tmp_path / "model.txt"
    trained.model.booster.save_model(str(path))
    scores = score_exported(load_booster(path), test_features, expected_features(_meta(workflow())))
    assert np.allclose(scores.to_numpy(), trained.predictions["test"].to_numpy(), rtol=0, atol=1e-12)


def test_feature_mismatch_names_the_first_differing_column(trained, test_features, tmp_path):
    path = tmp_path / "model.txt"
    trained.model.booster.save_model(str(path))
    swapped = test_features[[test_features.columns[1], test_features.columns[0], *test_features.columns[2:]]]
    with pytest.raises(ModelError, match="column 0 is 'KLEN' but the model expects 'KMID'"):
        score_exported(load_booster(path), swapped, expected_features(_meta(workflow())))
    names = list(test_features.columns)
    meta = {"feature_schema": [["expr"] * 157, names[:157]]}  # right names, one short: the booster wants 158
    with pytest.raises(ModelError, match="158 columns given but the model expects 157"):
        score_exported(load_booster(path), test_features, expected_features(meta))
    with pytest.raises(ModelError, match=r"takes 158 features but model_meta\.json lists 157"):
        score_exported(load_booster(path), test_features[names[:157]], expected_features(meta))


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_untrusted_and_malicious_pickles_are_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "params.pkl"
    path.write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(ModelError, match="not marked trusted"):
        load_booster(path)
    with pytest.raises(ModelError, match=r"references posix\.system"):
        load_booster(path, trusted=True)
    assert not (tmp_path / "pwned").exists()

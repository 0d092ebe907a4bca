"""Training → MLflow run → registry (champion) → serving, on the SQLite tracking store under AISTOCK_HOME."""

from __future__ import annotations

import numpy as np
import pytest

from aistock_core.config import get_settings
from aistock_core.errors import ModelError
from aistock_core.models.config import parse_workflow
from aistock_core.models.scoring import ServedModel, check_feature_order
from aistock_core.models.tracking import CHAMPION, client, log_training, promote
from aistock_core.models.train import train
from tests.aistock_core.models.workflows import workflow


@pytest.fixture(scope="module")
def trained(market_service):
    return train(parse_workflow(workflow()), market_service)


def test_run_registry_and_serving_reproduce_training(trained, market_service, aistock_home):
    uri = get_settings().tracking_uri
    assert uri == f"sqlite:///{aistock_home.resolve() / 'mlflow.db'}"
    logged = log_training(trained, uri=uri, experiment="t", model_name="lgb_demo",
                          artifact_root=get_settings().artifact_root)
    assert logged.version == "1" and logged.failed_checks == {}
    c = client(uri)
    run = c.get_run(logged.run_id)
    assert run.data.tags["data_fingerprint"] == trained.data_fingerprint
    assert run.data.params["segment.test"] == "2021-01-04..2021-03-31"
    history = c.get_metric_history(logged.run_id, "l2.valid")
    assert len(history) == len(trained.model.evals["valid"]["l2"]) > 1
    assert run.data.metrics["IC.test"] == pytest.approx(trained.metrics["test"]["IC"])
    assert str(c.get_model_version_by_alias("lgb_demo", CHAMPION).version) == "1"

    served = ServedModel.load(uri, "lgb_demo")  # NAME alone = the champion
    expected = trained.predictions["test"].sort_index()
    scores = served.score(market_service, "2021-01-04", "2021-03-31")
    assert scores.index.equals(expected.index)
    assert np.array_equal(scores.to_numpy(), expected.to_numpy())  # same features, same booster: same bits

    second = log_training(trained, uri=uri, experiment="t", model_name="lgb_demo",
                          artifact_root=get_settings().artifact_root)
    assert second.version == "2" and str(c.get_model_version_by_alias("lgb_demo", CHAMPION).version) == "2"
    promote(c, "lgb_demo", "1")
    assert ServedModel.load(uri, "lgb_demo@champion").version == "1"
    assert ServedModel.load(uri, "lgb_demo/2").version == "2"
    with pytest.raises(ModelError, match="not in the registry"):
        ServedModel.load(uri, "lgb_demo/9")


def test_failed_checks_leave_the_registry_unchanged(trained, aistock_home):
    uri = get_settings().tracking_uri
    logged = log_training(trained, uri=uri, experiment="t", model_name="strict", min_valid_ic=1.0,
                          artifact_root=get_settings().artifact_root)
    assert logged.version is None and "valid_ic" in logged.failed_checks
    assert client(uri).search_registered_models() == []


def test_feature_order_mismatch_names_the_first_differing_column():
    check_feature_order(["A", "B"], ["A", "B"])
    with pytest.raises(ModelError, match="column 1 is 'C' but the model expects 'B'"):
        check_feature_order(["A", "B", "C"], ["A", "C", "B"])
    with pytest.raises(ModelError, match="2 columns given but the model expects 3"):
        check_feature_order(["A", "B", "C"], ["A", "B"])

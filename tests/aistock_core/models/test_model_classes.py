"""XGBModel, LinearModel and GeneralPTNN: config checks, the audit gate on the loop's model.py, the MLflow
round trip (flavour, signature, per-epoch loss) to identical scores, and exported torch state dicts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from aistock_core.config import get_settings
from aistock_core.errors import ModelError
from aistock_core.models.config import parse_workflow
from aistock_core.models.exported import expected_features, load_network, score_exported
from aistock_core.models.scoring import ServedModel
from aistock_core.models.tracking import client, log_training, session
from aistock_core.models.train import train
from aistock_core.models.zoo import build
from tests.aistock_core.models.workflows import LOOP, MODEL_BLOCKS, model_workflow


def _with_kwargs(name: str, **kwargs) -> dict:
    data = model_workflow(name)
    data["task"]["model"]["kwargs"] = {**data["task"]["model"]["kwargs"], **kwargs}
    return data


@pytest.mark.parametrize(("name", "changes", "message"), [
    ("GeneralPTNN", {"n_epoch": 3}, "unknown kwarg(s) ['n_epoch']; supported: ['GPU', 'batch_size'"),
    ("GeneralPTNN", {"pt_model_uri": None}, "pt_model_uri is required"),
    ("GeneralPTNN", {"optimizer": "rmsprop"}, "supported: adam, gd"),
    ("GeneralPTNN", {"loss": "huber"}, "loss 'huber' is not supported"),
    ("XGBModel", {"max_deph": 3}, "XGBModel: unknown kwarg(s) ['max_deph']"),
    ("LinearModel", {"estimator": "elastic"}, "supported: ols, nnls, ridge, lasso"),
    ("LinearModel", {"estimator": "ols"}, "alpha is only used by ridge and lasso"),
    ("LinearModel", {"l1": 0.1}, "LinearModel: unknown kwarg(s) ['l1']"),
])
def test_bad_model_kwargs_name_what_is_supported(name, changes, message):
    with pytest.raises(ModelError) as err:
        parse_workflow(_with_kwargs(name, **changes))
    assert message in str(err.value)


def test_unknown_class_lists_every_supported_one():
    data = model_workflow("XGBModel")
    data["task"]["model"]["class"] = "TabnetModel"
    with pytest.raises(ModelError, match="supported: LGBModel, XGBModel, LinearModel, GeneralPTNN"):
        parse_workflow(data)


def test_network_file_must_be_the_loops_own(tmp_path):
    spec = parse_workflow(model_workflow("GeneralPTNN"))
    with pytest.raises(ModelError, match="no code directory is known"):
        build(spec.model.name, spec.model.kwargs, None)
    with pytest.raises(ModelError, match=r"model\.py does not exist"):
        build(spec.model.name, spec.model.kwargs, tmp_path)


@pytest.mark.parametrize(("code", "rule"), [
    ("import os\nos.system('touch pwned')\n", "banned-import"),
    ("import torch\nweights = torch.hub.load('evil/repo', 'm')\n", "introspection"),
    ("import torch\nstate = torch.load('x.pt')\n", "introspection"),
])
def test_rejected_model_code_is_never_imported(code, rule, tmp_path, monkeypatch, market_service):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.py").write_text(code + (LOOP / "model.py").read_text())
    with pytest.raises(ModelError, match=rf"(?s)model code model\.py: rejected.*\[{rule}\]") as err:
        train(parse_workflow(model_workflow("GeneralPTNN"), base_dir=tmp_path), market_service)
    assert ", col " in str(err.value)  # each finding located, as for factor code
    assert not (tmp_path / "pwned").exists()


@pytest.fixture(scope="module")
def trained(market_service):
    return {name: train(parse_workflow(model_workflow(name), base_dir=LOOP), market_service) for name in MODEL_BLOCKS}


def test_ptnn_is_deterministic_and_stops_early(trained, market_service):
    first = trained["GeneralPTNN"]
    again = train(parse_workflow(model_workflow("GeneralPTNN"), base_dir=LOOP), market_service)
    assert np.array_equal(first.predictions["test"].to_numpy(), again.predictions["test"].to_numpy())
    valid = first.model.evals["valid"]["loss"]
    assert first.model.best_epoch == int(np.argmin(valid))  # the best state is the one restored and scored
    other = train(parse_workflow(_with_kwargs("GeneralPTNN", seed=4), base_dir=LOOP), market_service)
    assert not np.array_equal(first.predictions["test"].to_numpy(), other.predictions["test"].to_numpy())


@pytest.mark.parametrize("name", list(MODEL_BLOCKS))
def test_registry_round_trip_scores_like_training(name, trained, market_service, aistock_home, tmp_path):
    import mlflow.artifacts
    import mlflow.models

    result = trained[name]
    uri = get_settings().tracking_uri
    logged = log_training(result, uri=uri, experiment="classes", model_name=f"m_{name}",
                          artifact_root=get_settings().artifact_root)
    assert logged.version == "1", logged.failed_checks
    with session(uri):
        local = Path(mlflow.artifacts.download_artifacts(f"models:/m_{name}/1", dst_path=str(tmp_path)))
    model = mlflow.models.Model.load(local)
    flavour = {"GeneralPTNN": "pytorch", "XGBModel": "xgboost", "LinearModel": "sklearn"}[name]
    assert flavour in model.flavors and model.signature is not None
    if name == "GeneralPTNN":  # a traced graph (torch.export), not a pickled class
        assert (local / "data" / "model.pt2").is_file() and not (local / "data" / "model.pth").exists()
    history = client(uri).get_metric_history(logged.run_id, f"{next(iter(result.model.evals['valid']))}.valid"
                                             ) if result.model.evals else []
    assert len(history) == len(next(iter(result.model.evals.get("valid", {"": []}).values())))
    served = ServedModel.load(uri, f"m_{name}")
    scores = served.score(market_service, "2021-01-04", "2021-03-31")
    expected = result.predictions["test"].sort_index()
    assert scores.index.equals(expected.index)
    assert np.array_equal(scores.to_numpy(), expected.to_numpy())


def test_exported_state_dict_with_its_model_py(trained, tmp_path):
    import torch

    result = trained["GeneralPTNN"]
    torch.save(result.model.net.state_dict(), tmp_path / "model.pt")
    shutil.copyfile(LOOP / "model.py", tmp_path / "model.py")
    task = model_workflow("GeneralPTNN")["task"]
    meta = {"model_type": "GeneralPTNN", "model_conf": task["model"], "dataset_conf": task["dataset"],
            "feature_schema": None}
    (tmp_path / "model_meta.json").write_text(json.dumps(meta))
    features = result.dataset.prepare("test", "feature", "infer")
    net = load_network(tmp_path / "model.pt", meta, tmp_path)
    scores = score_exported(net, features, expected_features(meta))
    assert np.array_equal(scores.to_numpy(), result.predictions["test"].to_numpy())

    swapped = features[[features.columns[1], features.columns[0], *features.columns[2:]]]
    with pytest.raises(ModelError, match="column 0 is 'KLEN' but the model expects 'KMID'"):
        score_exported(net, swapped, expected_features(meta))
    short = {"feature_schema": list(features.columns[:157])}
    with pytest.raises(ModelError, match=r"takes 158 features but model_meta\.json lists 157"):
        score_exported(net, features[features.columns[:157]], expected_features(short))
    wrong = json.loads(json.dumps(meta))
    wrong["model_conf"]["kwargs"]["pt_model_kwargs"] = {"num_features": 158, "hidden": 8}
    with pytest.raises(ModelError, match=r"does not fit model\.model_cls"):
        load_network(tmp_path / "model.pt", wrong, tmp_path)
    (tmp_path / "evil.pt").write_bytes(b"not a state dict")
    with pytest.raises(ModelError, match="is not a torch state dict"):
        load_network(tmp_path / "evil.pt", meta, tmp_path)

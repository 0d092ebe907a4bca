"""How each model class is logged to MLflow (its flavour, with a signature) and loaded back to score.

LightGBM, XGBoost and scikit-learn models round-trip through their MLflow flavours (plain data). A
GeneralPTNN is logged with ``mlflow.pytorch`` for the record (as a traced ``pt2`` graph, or pickled when the
network cannot be traced), but served from its state dict and the loop's
``model.py`` (both logged beside it): the pytorch flavour pickles the network's class, and loading it would
run that code without the audit that every loop file passes first (`ptnn.load_network_class`).
Every loader returns an object whose ``predict(rows × features array)`` gives one score per row.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from aistock_core.errors import ModelError

STATE_DICT = "state_dict.pt"


class _DMatrixPredictor:
    def __init__(self, booster) -> None:
        self.booster = booster

    def predict(self, x: np.ndarray) -> np.ndarray:
        import xgboost as xgb

        return self.booster.predict(xgb.DMatrix(x))


class LinearPredictor:
    """``x @ coef + intercept``, as Qlib's LinearModel predicts."""

    def __init__(self, coef: np.ndarray, intercept: float) -> None:
        self.coef, self.intercept = coef, intercept

    def predict(self, x: np.ndarray) -> np.ndarray:
        return x @ self.coef + self.intercept


def _requirements(dist: str) -> list[str]:
    """The flavour's pip requirement, stated (MLflow would otherwise infer it by loading the model in a child
    process, seconds per run)."""
    from importlib.metadata import version

    return [f"{dist}=={version(dist).split('+')[0]}", f"mlflow=={version('mlflow')}"]


def log_model(model, signature, example: np.ndarray, artifact_dir: Path):
    """Log ``model`` (fitted) in its flavour as ``model``; extra files it needs to be served go in ``artifact_dir``
    (logged by the caller under ``aistock/``). ``example``: a few feature rows (a network is traced on them).
    Returns MLflow's ModelInfo."""
    name = type(model).__name__
    if name == "LGBModel":
        import mlflow.lightgbm

        return mlflow.lightgbm.log_model(model.booster, name="model", signature=signature,
                                         pip_requirements=_requirements("lightgbm"))
    if name == "XGBModel":
        import mlflow.xgboost

        return mlflow.xgboost.log_model(model.booster, name="model", signature=signature,
                                        pip_requirements=_requirements("xgboost"))
    if name == "LinearModel":
        import mlflow.sklearn
        from sklearn.linear_model import LinearRegression

        est = LinearRegression(fit_intercept=model.fit_intercept)  # the fitted coefficients, in sklearn's form
        est.coef_, est.intercept_, est.n_features_in_ = model.coef_, model.intercept_, len(model.coef_)
        # cloudpickle: two arrays of our own; skops' safe format imports every estimator (≈10 s a run)
        return mlflow.sklearn.log_model(est, name="model", signature=signature, serialization_format="cloudpickle",
                                        pip_requirements=_requirements("scikit-learn"))
    if name == "GeneralPTNN":
        import mlflow.pytorch
        import torch

        torch.save(model.net.state_dict(), artifact_dir / STATE_DICT)
        source = artifact_dir / model.model_path.relative_to(model.code_dir)  # where pt_model_uri finds it
        source.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(model.model_path, source)
        from mlflow.models import infer_signature

        rows = np.ascontiguousarray(example, dtype=np.float32)
        tensors = infer_signature(rows, model.predictor.predict(rows))  # pt2 signatures are tensor specs
        reqs = _requirements("torch")
        try:  # pt2: a traced graph, no pickled code (traced on the example rows)
            return mlflow.pytorch.log_model(model.net, name="model", signature=tensors, serialization_format="pt2",
                                            input_example=rows, pip_requirements=reqs)
        except Exception:  # a network torch.export cannot trace (data-dependent control flow)
            return mlflow.pytorch.log_model(model.net, name="model", signature=tensors,
                                            serialization_format="pickle", pip_requirements=reqs)
    raise ModelError(f"no MLflow flavour for model class {name}")


def load_predictor(meta: dict[str, Any], model_uri: str, artifact_dir: Path):
    """The scorer of a registered model: ``meta`` (model_meta.json), ``model_uri`` (``models:/NAME/VERSION``),
    ``artifact_dir`` (its downloaded ``aistock/`` folder)."""
    name = meta.get("model_class", "LGBModel")
    if name == "LGBModel":
        import mlflow.lightgbm

        return mlflow.lightgbm.load_model(model_uri)
    if name == "XGBModel":
        import mlflow.xgboost

        return _DMatrixPredictor(mlflow.xgboost.load_model(model_uri))
    if name == "LinearModel":
        import mlflow.sklearn

        est = mlflow.sklearn.load_model(model_uri)
        return LinearPredictor(est.coef_, est.intercept_)
    if name == "GeneralPTNN":
        from aistock_core.models.ptnn import load_torch_predictor

        return load_torch_predictor(artifact_dir / STATE_DICT, meta["model_kwargs"], artifact_dir)
    raise ModelError(f"registered model class {name!r} cannot be served")

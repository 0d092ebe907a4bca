"""Qlib 0.9.7's ``XGBModel`` (``qlib/contrib/model/xgboost.py``), trained exactly as Qlib trains it.

Every workflow kwarg is an XGBoost parameter (Qlib passes them all to ``xgb.train``); the loop's own settings
are Qlib's ``fit`` defaults: 1,000 rounds, early stopping after 50 rounds without a better last ``valid``
metric. Train and valid are the "learn" frames (as ``DMatrix`` of their values), prediction is
``Booster.predict`` on the "infer" frame, which XGBoost ≥ 2 limits to the best iteration after early stopping.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from aistock_core.errors import ModelError
from aistock_core.models.dataset import Dataset

NUM_BOOST_ROUND = 1000
EARLY_STOPPING_ROUNDS = 50


def check_kwargs(kwargs: dict[str, Any]) -> None:
    """Refuse names XGBoost does not know (it only warns, and a typo would silently train the defaults)."""
    import xgboost as xgb

    known = set(xgb.XGBRegressor().get_xgb_params()) | set(xgb.XGBRegressor().get_params()) | {
        "eta", "nthread", "lambda", "alpha", "seed", "num_parallel_tree", "disable_default_eval_metric"}
    unknown = sorted(set(kwargs) - known)
    if unknown:
        raise ModelError(f"XGBModel: unknown kwarg(s) {unknown}; supported: any XGBoost parameter "
                         "(https://xgboost.readthedocs.io/en/stable/parameter.html)")


def _xy(dataset: Dataset, segment: str) -> tuple[np.ndarray, np.ndarray]:
    if segment not in dataset.spec.segments:
        raise ModelError(f"XGBModel trains on 'train' and early-stops on 'valid'; the dataset has no {segment!r}")
    frame = dataset.segment(segment, "learn")
    if frame.groups["label"].shape[0] != 1:
        raise ModelError("XGBoost doesn't support multi-label training (Qlib's message); keep one label")
    return np.ascontiguousarray(frame.groups["feature"].T), frame.groups["label"][0]


class XGBModel:
    """XGBoost booster with Qlib's training loop; ``evals`` keeps each round's train/valid metric."""

    def __init__(self, **kwargs: Any) -> None:
        self.params: dict[str, Any] = dict(kwargs)
        self.booster = None
        self.evals: dict[str, dict[str, list[float]]] = {}
        self.feature_names: list[str] = []

    def fit(self, dataset: Dataset) -> XGBModel:
        import xgboost as xgb

        (xt, yt), (xv, yv) = _xy(dataset, "train"), _xy(dataset, "valid")
        dtrain, dvalid = xgb.DMatrix(xt, label=yt), xgb.DMatrix(xv, label=yv)
        self.evals = {}
        self.booster = xgb.train(self.params, dtrain=dtrain, num_boost_round=NUM_BOOST_ROUND,
                                 evals=[(dtrain, "train"), (dvalid, "valid")],
                                 early_stopping_rounds=EARLY_STOPPING_ROUNDS, verbose_eval=False,
                                 evals_result=self.evals)
        self.feature_names = dataset.feature_names
        return self

    def predict_frame(self, features: pd.DataFrame) -> pd.Series:
        import xgboost as xgb

        if self.booster is None:
            raise ModelError("XGBModel is not fitted; train it (aistock models train) or load a registered one")
        return pd.Series(self.booster.predict(xgb.DMatrix(features)), index=features.index, name="score")

    def predict(self, dataset: Dataset, segment: str | slice = "test") -> pd.Series:
        return self.predict_frame(dataset.prepare(segment, "feature", "infer"))

    @property
    def best_iteration(self) -> int:
        return int(getattr(self.booster, "best_iteration", 0) or 0)

    def log_params(self) -> dict[str, Any]:
        return {**{f"xgb.{k}": v for k, v in self.params.items()}, "model.num_boost_round": NUM_BOOST_ROUND,
                "model.early_stopping_rounds": EARLY_STOPPING_ROUNDS}

    def feature_importance(self) -> dict[str, float]:
        gains = self.booster.get_score(importance_type="gain")  # keys f0, f1, ... (trained on bare arrays)
        return {name: float(gains.get(f"f{k}", 0.0)) for k, name in enumerate(self.feature_names)}

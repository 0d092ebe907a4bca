"""Qlib 0.9.7's ``LGBModel`` (``qlib/contrib/model/gbdt.py``), trained exactly as Qlib trains it.

``lgb.train(params, train, num_boost_round, valid_sets=[train, valid], valid_names=["train", "valid"],
callbacks=[early_stopping(rounds)])`` with ``params = {"objective": loss, "verbosity": -1, **kwargs}``; the
train and valid sets are the "learn" frames (label-dropped, label-normalised), prediction uses the "infer"
frame of the segment and the best iteration. Same lightgbm (pinned), same inputs → the same trees.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from aistock_core.errors import ModelError
from aistock_core.models.dataset import Dataset

#: LGBModel's own constructor kwargs; every other kwarg is a LightGBM parameter.
OWN_KWARGS = {"loss": "mse", "early_stopping_rounds": 50, "num_boost_round": 1000}


def check_kwargs(kwargs: dict[str, Any]) -> None:
    """Refuse kwargs that are neither LGBModel's nor a LightGBM parameter (or alias): typos fail loudly."""
    import lightgbm as lgb

    if kwargs.get("loss", "mse") not in ("mse", "binary"):
        raise ModelError(f"LGBModel: loss {kwargs['loss']!r} is not supported (Qlib accepts 'mse' or 'binary')")
    known = set(OWN_KWARGS)
    for name, aliases in lgb.basic._ConfigAliases._get_all_param_aliases().items():
        known |= {name, *aliases}
    unknown = sorted(set(kwargs) - known)
    if unknown:
        raise ModelError(f"LGBModel: unknown kwarg(s) {unknown}; supported: {sorted(OWN_KWARGS)} and any "
                         "LightGBM parameter (https://lightgbm.readthedocs.io/en/stable/Parameters.html)")


def _xy(dataset: Dataset, segment: str) -> tuple[np.ndarray, np.ndarray]:
    frame = dataset.segment(segment, "learn")
    if len(frame.index) == 0:
        raise ModelError(f"segment {segment!r} has no rows after the learn processors; check its window")
    label = frame.groups["label"]
    if label.shape[0] != 1:
        raise ModelError(f"LightGBM trains on one label column, the handler has {label.shape[0]}")
    return frame.groups["feature"].T, label[0]


class LGBModel:
    """LightGBM regressor/classifier with Qlib's training loop; ``evals`` keeps each iteration's metrics."""

    def __init__(self, loss: str = "mse", early_stopping_rounds: int = 50, num_boost_round: int = 1000,
                 **kwargs: Any) -> None:
        self.params: dict[str, Any] = {"objective": loss, "verbosity": -1, **kwargs}
        self.early_stopping_rounds = early_stopping_rounds
        self.num_boost_round = num_boost_round
        self.booster = None
        self.evals: dict[str, dict[str, list[float]]] = {}
        self.feature_names: list[str] = []

    def fit(self, dataset: Dataset) -> LGBModel:
        import lightgbm as lgb

        sets, names = [], []
        for segment in ("train", "valid"):
            if segment in dataset.spec.segments:
                x, y = _xy(dataset, segment)
                sets.append(lgb.Dataset(x, label=y))
                names.append(segment)
        self.evals = {}
        self.booster = lgb.train(
            self.params, sets[0], num_boost_round=self.num_boost_round, valid_sets=sets, valid_names=names,
            callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False),
                       lgb.record_evaluation(self.evals)],
        )
        self.feature_names = dataset.feature_names
        return self

    def predict_frame(self, features: pd.DataFrame) -> pd.Series:
        """Scores for a feature frame whose columns are exactly the training features, in order."""
        if self.booster is None:
            raise ModelError("LGBModel is not fitted; train it (aistock models train) or load a registered one")
        return pd.Series(self.booster.predict(features.to_numpy()), index=features.index, name="score")

    def predict(self, dataset: Dataset, segment: str | slice = "test") -> pd.Series:
        return self.predict_frame(dataset.prepare(segment, "feature", "infer"))

    @property
    def best_iteration(self) -> int:
        return int(self.booster.best_iteration) if self.booster is not None else 0

    def log_params(self) -> dict[str, Any]:
        return {**{f"lgb.{k}": v for k, v in self.params.items()}, "model.num_boost_round": self.num_boost_round,
                "model.early_stopping_rounds": self.early_stopping_rounds}

    def feature_importance(self) -> dict[str, float]:
        gains = self.booster.feature_importance(importance_type="gain")
        return dict(zip(self.feature_names, map(float, gains), strict=True))

"""Qlib 0.9.7's ``LinearModel`` (``qlib/contrib/model/linear.py``): ols, nnls, ridge or lasso on the learn frame.

Training rows are the train segment (plus valid with ``include_valid``) of the "learn" frame with every row
that has a NaN feature or label dropped, as Qlib's ``df.dropna()``; the solvers are the ones Qlib calls
(scikit-learn's LinearRegression/Ridge/Lasso with ``copy_X=False``, SciPy's ``nnls``) on the same float32
arrays, and prediction is ``x @ coef + intercept`` on the "infer" frame.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from aistock_core.errors import ModelError
from aistock_core.models.dataset import Dataset

ESTIMATORS = ("ols", "nnls", "ridge", "lasso")
OWN_KWARGS = {"estimator": "ols", "alpha": 0.0, "fit_intercept": False, "include_valid": False}


def check_kwargs(kwargs: dict[str, Any]) -> None:
    unknown = sorted(set(kwargs) - set(OWN_KWARGS))
    if unknown:
        raise ModelError(f"LinearModel: unknown kwarg(s) {unknown}; supported: {sorted(OWN_KWARGS)}")
    estimator = kwargs.get("estimator", "ols")
    if estimator not in ESTIMATORS:
        raise ModelError(f"LinearModel: estimator {estimator!r} is not supported; supported: {', '.join(ESTIMATORS)}")
    if kwargs.get("alpha", 0.0) != 0 and estimator not in ("ridge", "lasso"):
        raise ModelError(f"LinearModel: alpha is only used by ridge and lasso, not {estimator}")


class LinearModel:
    """A linear regression on the features, with Qlib's estimators and data selection."""

    def __init__(self, estimator: str = "ols", alpha: float = 0.0, fit_intercept: bool = False,
                 include_valid: bool = False) -> None:
        check_kwargs({"estimator": estimator, "alpha": alpha})
        self.estimator, self.alpha = estimator, alpha
        self.fit_intercept, self.include_valid = fit_intercept, include_valid
        self.coef_: np.ndarray | None = None
        self.intercept_: float = 0.0
        self.evals: dict[str, dict[str, list[float]]] = {}
        self.feature_names: list[str] = []

    def _train_xy(self, dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
        segments = ["train"] + (["valid"] if self.include_valid and "valid" in dataset.spec.segments else [])
        frames = [dataset.segment(seg, "learn") for seg in segments]
        x = np.concatenate([f.groups["feature"] for f in frames], axis=1).T
        y = np.concatenate([f.groups["label"] for f in frames], axis=1).T
        if y.shape[1] != 1:
            raise ModelError(f"LinearModel trains on one label column, the handler has {y.shape[1]}")
        keep = ~(np.isnan(x).any(axis=1) | np.isnan(y[:, 0]))
        if not keep.any():
            raise ModelError("LinearModel: no training row without a NaN feature or label; add a Fillna processor")
        return np.ascontiguousarray(x[keep]), np.squeeze(y[keep])

    def fit(self, dataset: Dataset) -> LinearModel:
        x, y = self._train_xy(dataset)
        if self.estimator == "nnls":
            from scipy.optimize import nnls

            coef = nnls(np.c_[x, np.ones(len(x))] if self.fit_intercept else x, y)[0]
            self.coef_, self.intercept_ = (coef[:-1], coef[-1]) if self.fit_intercept else (coef, 0.0)
        else:
            from sklearn.linear_model import Lasso, LinearRegression, Ridge

            model = (LinearRegression(fit_intercept=self.fit_intercept, copy_X=False) if self.estimator == "ols"
                     else {"ridge": Ridge, "lasso": Lasso}[self.estimator](
                         alpha=self.alpha, fit_intercept=self.fit_intercept, copy_X=False))
            model.fit(x, y)
            self.coef_, self.intercept_ = model.coef_, model.intercept_
        self.feature_names = dataset.feature_names
        return self

    def predict_frame(self, features: pd.DataFrame) -> pd.Series:
        if self.coef_ is None:
            raise ModelError("LinearModel is not fitted; train it (aistock models train) or load a registered one")
        return pd.Series(features.to_numpy() @ self.coef_ + self.intercept_, index=features.index, name="score")

    def predict(self, dataset: Dataset, segment: str | slice = "test") -> pd.Series:
        return self.predict_frame(dataset.prepare(segment, "feature", "infer"))

    best_iteration = 0

    def log_params(self) -> dict[str, Any]:
        return {"linear.estimator": self.estimator, "linear.alpha": self.alpha,
                "linear.fit_intercept": self.fit_intercept, "linear.include_valid": self.include_valid}

    def feature_importance(self) -> dict[str, float]:
        return dict(zip(self.feature_names, map(float, self.coef_), strict=True))

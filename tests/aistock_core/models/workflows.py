"""A small Alpha158 + LGBModel workflow over the model tests' synthetic market (2020-01..2021-04)."""

from __future__ import annotations

import copy
from pathlib import Path

SEGMENTS = {"train": ["2020-01-02", "2020-09-30"], "valid": ["2020-10-09", "2020-12-31"],
            "test": ["2021-01-04", "2021-03-31"]}


def workflow(**handler_changes) -> dict:
    """A Qlib workflow mapping (as yaml.safe_load gives it) small enough to train in a second."""
    handler = {"start_time": "2020-01-02", "end_time": "2021-03-31", "fit_start_time": "2020-01-02",
               "fit_end_time": "2020-09-30", "instruments": "all", **handler_changes}
    return {"task": {
        "model": {"class": "LGBModel", "module_path": "qlib.contrib.model.gbdt",
                  "kwargs": {"loss": "mse", "learning_rate": 0.1, "num_leaves": 15, "num_threads": 1,
                             "num_boost_round": 40, "early_stopping_rounds": 10, "deterministic": True,
                             "force_row_wise": True}},
        "dataset": {"class": "DatasetH", "module_path": "qlib.data.dataset",
                    "kwargs": {"handler": {"class": "Alpha158", "module_path": "qlib.contrib.data.handler",
                                           "kwargs": handler},
                               "segments": SEGMENTS}}}}

#: The research loop directory of the model tests: ``model.py`` with RD-Agent's ``model_cls``.
LOOP = Path(__file__).parent / "loop"
#: RD-Agent's infer processors (contract §9): robust z-score with clipping, then Fillna.
RDAGENT_INFER = [{"class": "RobustZScoreNorm", "kwargs": {"fields_group": "feature", "clip_outlier": True}},
                 {"class": "Fillna", "kwargs": {"fields_group": "feature"}}]
MODEL_BLOCKS = {
    "GeneralPTNN": {"class": "GeneralPTNN", "module_path": "qlib.contrib.model.pytorch_general_nn", "kwargs": {
        "n_epochs": 4, "lr": 0.01, "early_stop": 2, "batch_size": 256, "metric": "loss", "loss": "mse", "seed": 3,
        "pt_model_uri": "model.model_cls", "pt_model_kwargs": {"num_features": 158}}},
    "XGBModel": {"class": "XGBModel", "module_path": "qlib.contrib.model.xgboost",
                 "kwargs": {"eval_metric": "rmse", "eta": 0.1, "max_depth": 3, "nthread": 1}},
    "LinearModel": {"class": "LinearModel", "module_path": "qlib.contrib.model.linear",
                    "kwargs": {"estimator": "ridge", "alpha": 1.0, "fit_intercept": True}},
}


def model_workflow(name: str) -> dict:
    """`workflow` with RD-Agent's infer processors and the model class ``name`` (see `MODEL_BLOCKS`)."""
    out = workflow(infer_processors=RDAGENT_INFER)
    out["task"]["model"] = copy.deepcopy(MODEL_BLOCKS[name])
    return out

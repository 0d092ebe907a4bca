"""A small Alpha158 + LGBModel workflow over the model tests' synthetic market (2020-01..2021-04)."""

from __future__ import annotations

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

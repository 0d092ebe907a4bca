"""Walk-forward retraining: a model per retrain day, trained only on what was known before it.

A model retrained on session ``r`` may use bars up to ``r``'s previous session. Its label needs ``horizon``
sessions of future closes (Alpha158's ``Ref($close,-2)/Ref($close,-1)-1``: 2), so the last labelled row is
``horizon`` sessions before that, and that is where the valid segment ends; train precedes valid. Scoring day
``D`` uses the newest model whose retrain day is ≤ ``D``: its training data ended before ``D`` minus the
horizon. `retrain_workflow` writes that window into a Qlib workflow mapping; nothing else changes in it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pandas as pd

from aistock_core.errors import ModelError
from aistock_core.models.config import parse_workflow
from aistock_core.models.train import TrainResult, train

#: Sessions of future data Alpha158's default label reads (Ref($close, -2)).
LABEL_HORIZON = 2


@dataclass(frozen=True)
class RetrainWindow:
    """Segments of one retrain; ``data_end`` (the session before ``retrain_day``) is the last bar it reads."""

    retrain_day: pd.Timestamp
    train: tuple[pd.Timestamp, pd.Timestamp]
    valid: tuple[pd.Timestamp, pd.Timestamp]
    data_end: pd.Timestamp


def retrain_window(sessions: pd.DatetimeIndex, retrain_day, *, train_sessions: int, valid_sessions: int,
                   horizon: int = LABEL_HORIZON) -> RetrainWindow:
    """The window of a retrain on ``retrain_day`` over ``sessions`` (the trading calendar's days)."""
    day = pd.Timestamp(retrain_day)
    pos = int(sessions.searchsorted(day))
    if pos >= len(sessions) or sessions[pos] != day:
        raise ModelError(f"retrain day {day:%Y-%m-%d} is not a session of the data")
    valid_end = pos - 1 - horizon
    valid_start = valid_end - valid_sessions + 1
    train_end = valid_start - 1
    train_start = train_end - train_sessions + 1
    if train_start < 0:
        raise ModelError(f"retrain on {day:%Y-%m-%d} needs {train_sessions + valid_sessions + horizon + 1} "
                         f"sessions of history, the data has {pos}; retrain later or shorten the windows")
    return RetrainWindow(day, (sessions[train_start], sessions[train_end]),
                         (sessions[valid_start], sessions[valid_end]), sessions[pos - 1])


def retrain_workflow(workflow: dict[str, Any], window: RetrainWindow) -> dict[str, Any]:
    """``workflow`` (a Qlib mapping) with its handler window, fit window and train/valid segments set to
    ``window``; the test segment becomes the retrain day onwards (left to the caller to score)."""
    out = copy.deepcopy(workflow)
    task = out["task"] if "task" in out else {"dataset": out["dataset_config"]}
    kwargs = task["dataset"]["kwargs"]
    handler = kwargs["handler"].setdefault("kwargs", {})
    fit = {"fit_start_time": f"{window.train[0]:%Y-%m-%d}", "fit_end_time": f"{window.train[1]:%Y-%m-%d}"}
    # rows end with the valid segment: its labels read closes up to data_end, nothing later
    handler.update(start_time=f"{window.train[0]:%Y-%m-%d}", end_time=f"{window.valid[1]:%Y-%m-%d}")
    if kwargs["handler"].get("class") == "DataHandlerLP":  # no handler fit window: each fitted processor has one
        for block in [*handler.get("infer_processors", []), *handler.get("learn_processors", [])]:
            if isinstance(block, dict) and "fit_start_time" in (block.get("kwargs") or {}):
                block["kwargs"].update(fit)
    else:
        handler.update(fit)
    kwargs["segments"] = {"train": [f"{d:%Y-%m-%d}" for d in window.train],
                          "valid": [f"{d:%Y-%m-%d}" for d in window.valid]}
    return out


def retrain(service, workflow: dict[str, Any], retrain_day, *, train_sessions: int,
            valid_sessions: int, base_dir=None) -> tuple[RetrainWindow, TrainResult]:
    """Train ``workflow`` as it would have been trained on ``retrain_day`` (no data from that day on);
    ``base_dir``: where the files the workflow names live (a network's ``model.py``, a factor table)."""
    window = retrain_window(service.resolve_dates(), retrain_day, train_sessions=train_sessions,
                            valid_sessions=valid_sessions)
    return window, train(parse_workflow(retrain_workflow(workflow, window), base_dir=base_dir), service)


def model_for(day, windows: list[RetrainWindow]) -> RetrainWindow:
    """The newest retrain on or before ``day`` (its data ended before ``day`` minus the label horizon)."""
    usable = [w for w in windows if w.retrain_day <= pd.Timestamp(day)]
    if not usable:
        raise ModelError(f"no model was retrained on or before {pd.Timestamp(day):%Y-%m-%d}")
    return max(usable, key=lambda w: w.retrain_day)

"""Train a parsed workflow on a `DataService`: dataset, model, per-segment predictions and IC metrics.

Pure domain logic (no MLflow, no files): `tracking` logs and registers what this returns, the CLI and Dagster
call both. The data fingerprint hashes the raw frame (index + values) so two runs on the same data can be
recognised, and a run can be traced to the exact bars it saw.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from aistock_core.errors import ModelError
from aistock_core.models.config import WorkflowSpec
from aistock_core.models.dataset import Dataset
from aistock_core.models.metrics import signal_metrics
from aistock_core.models.zoo import build


def fingerprint(dataset: Dataset) -> str:
    """sha256 of the raw frame: dates, instruments and every feature/label value."""
    h = hashlib.sha256()
    idx = dataset.raw.index
    h.update(np.asarray(idx.get_level_values(0).asi8).tobytes())
    h.update("\x00".join(map(str, idx.get_level_values(1))).encode())
    for g, arr in dataset.raw.groups.items():
        h.update(g.encode())
        h.update("\x00".join(dataset.raw.names[g]).encode())
        h.update(np.ascontiguousarray(arr))  # the buffer itself: no copy of a contiguous block
    return h.hexdigest()


@dataclass
class TrainResult:
    """A fitted model with what it was trained on and how it scored, per segment."""

    spec: WorkflowSpec
    model: Any  # one of zoo.MODELS' classes
    dataset: Dataset
    predictions: dict[str, pd.Series] = field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    data_fingerprint: str = ""

    @property
    def window(self) -> dict[str, list[str]]:
        """Segment → [start, end] (YYYY-MM-DD), plus the handler's fit window."""
        out = {seg: [f"{a:%Y-%m-%d}", f"{b:%Y-%m-%d}"] for seg, (a, b) in self.spec.dataset.segments.items()}
        h = self.spec.dataset.handler
        if h.fit_start_time is not None and h.fit_end_time is not None:
            out["fit"] = [f"{h.fit_start_time:%Y-%m-%d}", f"{h.fit_end_time:%Y-%m-%d}"]
        return out

    def test_predictions(self) -> pd.DataFrame:
        """The test segment's scores as a (datetime, instrument, score) table, sorted."""
        if "test" not in self.predictions:
            raise ModelError("the workflow has no 'test' segment to predict; add one under segments")
        return self.predictions["test"].rename("score").sort_index().reset_index()


def train(spec: WorkflowSpec, service) -> TrainResult:
    """Load and process the dataset, fit the model (Qlib's loop), predict and score every segment."""
    model = build(spec.model.name, spec.model.kwargs, spec.base_dir)
    dataset = Dataset.load(service, spec.dataset)
    model = model.fit(dataset)
    result = TrainResult(spec=spec, model=model, dataset=dataset, data_fingerprint=fingerprint(dataset))
    label_name = dataset.raw.names["label"][0]
    for seg in spec.dataset.segments:
        scores = model.predict(dataset, seg)
        label = dataset.prepare(seg, "label", "raw")[label_name]
        result.predictions[seg] = scores
        result.metrics[seg] = signal_metrics(scores, label)
    return result

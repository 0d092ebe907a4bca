"""MLflow: every training is a run; a version that passes its checks is registered and aliased ``champion``.

A run holds the workflow config, the model's params, the per-iteration (per-epoch) train/valid loss, IC
metrics per segment, feature importance, the dataset window and the data fingerprint, and the model in its
flavour (``mlflow.lightgbm``/``xgboost``/``sklearn``/``pytorch``, see `flavours`) with a signature. Beside the
model: ``model_meta.json`` (feature order, label, handler, model kwargs), what the flavour needs to be served
(a network's state dict and ``model.py``) and ``infer_processors.pkl`` (the fitted infer processors — our own
objects, written by this code, so loading them is not loading research's pickles). The registry needs a
DB-backed store: the default is SQLite under ``AISTOCK_HOME`` (`Settings.tracking_uri`). Aliases, not the
deprecated stages.
"""

from __future__ import annotations

import json
import math
import pickle
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aistock_core.errors import ModelError
from aistock_core.models.train import TrainResult

CHAMPION = "champion"
META = "model_meta.json"
PROCESSORS = "infer_processors.pkl"


def client(uri: str):
    """An `MlflowClient` on ``uri`` for tracking and registry (the registry lives in the same store)."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def store_exists(uri: str) -> bool:
    """Whether there is a tracking store to read at ``uri``: a SQLite file that is not there yet holds no model,
    and opening it would create the file and MLflow's tables (a command that only reads must change nothing)."""
    prefix = "sqlite:///"
    return not uri.startswith(prefix) or Path(uri.removeprefix(prefix)).is_file()


def require_store(uri: str, ref: str) -> None:
    """`ModelError` naming ``ref`` when `store_exists` says there is nothing to read it from."""
    if not store_exists(uri):
        raise ModelError(f"model {ref!r} is not in the registry: there is no tracking store at {uri} yet; train "
                         "and register one with `aistock models train --register NAME`")


@contextmanager
def session(uri: str) -> Iterator:
    """A client on ``uri`` with mlflow's fluent API pointed there too, restored afterwards.

    ``mlflow.set_tracking_uri`` also exports ``MLFLOW_TRACKING_URI`` to the environment (for subprocesses);
    left set, it would silently redirect every later command of this process to the last store used.
    """
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    with _use_tracking_uri(uri):
        yield client(uri)


def champion_checks(result: TrainResult, min_valid_ic: float | None = None, research_ic: float | None = None,
                    ic_tolerance: float = 0.05) -> dict[str, str]:
    """Failed check → why; empty when the model may become champion.

    ``research_ic``: the loop's recorded IC; a retrain whose valid IC is further than ``ic_tolerance`` from it
    did not reproduce the research and must not replace the champion.
    """
    failed = {}
    for seg, scores in result.predictions.items():
        values = scores.to_numpy()
        if not np.isfinite(values).all():
            failed[f"finite_{seg}"] = f"{int((~np.isfinite(values)).sum())} non-finite scores in {seg}"
        elif len(values) > 1 and np.ptp(values) == 0:
            failed[f"varies_{seg}"] = f"every {seg} score is {values[0]}: the model learned nothing"
    valid_ic = result.metrics.get("valid", {}).get("IC")
    if min_valid_ic is not None and not (valid_ic is not None and valid_ic >= min_valid_ic):
        failed["valid_ic"] = f"valid IC {valid_ic} is below the required {min_valid_ic}"
    if research_ic is not None and not (valid_ic is not None and abs(valid_ic - research_ic) <= ic_tolerance):
        failed["research_ic"] = (f"valid IC {valid_ic} is not within {ic_tolerance} of the research loop's "
                                 f"recorded IC {research_ic}")
    return failed


@dataclass(frozen=True)
class Logged:
    run_id: str
    experiment_id: str
    version: str | None
    failed_checks: dict[str, str]


def _params(result: TrainResult) -> dict[str, Any]:
    h = result.spec.dataset.handler
    params = dict(result.model.log_params())
    params |= {"model.class": result.spec.model.name, "handler.class": h.name,
               "handler.instruments": h.instruments if isinstance(h.instruments, str) else ",".join(h.instruments),
               "handler.label": json.dumps(h.labels), "features": len(result.dataset.feature_names)}
    params |= {f"segment.{k}": "..".join(v) for k, v in result.window.items()}
    return {k: str(v)[:6000] for k, v in params.items()}


def _metrics(result: TrainResult) -> list:
    from mlflow.entities import Metric

    now = 0
    out = [Metric(f"{key.replace(' ', '_')}.{seg}", float(value), now, 0)
           for seg, values in result.metrics.items() for key, value in values.items() if math.isfinite(value)]
    for seg, series in result.model.evals.items():
        for metric, values in series.items():
            out += [Metric(f"{metric}.{seg}", float(v), now, step) for step, v in enumerate(values)]
    out.append(Metric("best_iteration", float(result.model.best_iteration), now, 0))
    return out


def model_meta(result: TrainResult) -> dict[str, Any]:
    """What scoring needs besides the booster: the feature order, label and the handler block."""
    h = result.spec.dataset.handler
    return {"model_class": result.spec.model.name, "model_kwargs": result.spec.model.kwargs,
            "features": result.dataset.feature_names,
            "label": h.labels, "handler": h.name, "instruments": h.instruments, "window": result.window,
            "data_fingerprint": result.data_fingerprint, "workflow": result.spec.raw}


def experiment_id(c, name: str, artifact_root: str | None) -> str:
    """The experiment's id, created (with its artifacts under ``artifact_root`` when given) if it is new."""
    exp = c.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    location = f"{artifact_root.rstrip('/')}/{name}" if artifact_root else None
    return c.create_experiment(name, artifact_location=location)


def log_training(result: TrainResult, *, uri: str, experiment: str, model_name: str | None = None,
                 min_valid_ic: float | None = None, artifact_root: str | None = None,
                 research_ic: float | None = None, ic_tolerance: float = 0.05,
                 tags: dict[str, str] | None = None) -> Logged:
    """Log ``result`` as one run; register it as ``model_name`` (alias champion) when its checks pass.

    Nothing reaches the registry when a check fails: the run is kept (tagged with the failures) for diagnosis.
    """
    import mlflow
    from mlflow.models import infer_signature

    from aistock_core.models.flavours import log_model

    failed = champion_checks(result, min_valid_ic, research_ic, ic_tolerance)
    sample = result.dataset.prepare(next(iter(result.predictions)), "feature", "infer").head(50)
    with session(uri) as c:
        with mlflow.start_run(experiment_id=experiment_id(c, experiment, artifact_root)) as run:
            run_id = run.info.run_id
            c.log_batch(run_id, metrics=_metrics(result),
                        params=[mlflow.entities.Param(k, v) for k, v in _params(result).items()])
            mlflow.set_tags({"data_fingerprint": result.data_fingerprint, "window": json.dumps(result.window),
                             "checks": json.dumps(failed) if failed else "passed", **(tags or {})})
            mlflow.log_dict(result.spec.raw, "workflow.json")
            if importance := result.model.feature_importance():
                mlflow.log_dict(importance, "feature_importance.json")
            mlflow.log_dict(result.metrics, "metrics.json")
            signature = infer_signature(sample, result.model.predict_frame(sample).to_numpy())
            with tempfile.TemporaryDirectory() as tmp:
                info = log_model(result.model, signature, sample.to_numpy()[:5], Path(tmp))
                (Path(tmp) / META).write_text(json.dumps(model_meta(result), default=str, indent=1))
                with open(Path(tmp) / PROCESSORS, "wb") as f:
                    pickle.dump(result.dataset.infer_processors, f)
                mlflow.log_artifacts(tmp, "aistock")
        version = register(c, model_name, run_id, info.model_uri) if model_name and not failed else None
    return Logged(run_id=run_id, experiment_id=run.info.experiment_id, version=version, failed_checks=failed)


def register(c, name: str, run_id: str, source: str) -> str:
    """Register the run's logged model (``source``) as a new version of ``name``; point ``champion`` at it."""
    from mlflow.exceptions import MlflowException

    try:
        c.get_registered_model(name)
    except MlflowException:
        c.create_registered_model(name)
    version = c.create_model_version(name, source=source, run_id=run_id).version
    c.set_registered_model_alias(name, CHAMPION, str(version))
    return str(version)


def resolve(c, ref: str):
    """``NAME``, ``NAME@alias`` or ``NAME/version`` → the registry's ModelVersion (NAME alone = champion)."""
    from mlflow.exceptions import MlflowException

    try:
        if "@" in ref:
            name, alias = ref.split("@", 1)
            return c.get_model_version_by_alias(name, alias)
        if "/" in ref:
            name, version = ref.rsplit("/", 1)
            return c.get_model_version(name, version)
        return c.get_model_version_by_alias(ref, CHAMPION)
    except MlflowException as exc:
        raise ModelError(f"model {ref!r} is not in the registry ({exc.message.splitlines()[0]}); "
                         "see `aistock models list`") from None


def promote(c, name: str, version: str, alias: str = CHAMPION) -> None:
    resolve(c, f"{name}/{version}")
    c.set_registered_model_alias(name, alias, str(version))

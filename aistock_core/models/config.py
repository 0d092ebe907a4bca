"""Qlib workflow configs (``task.model`` / ``task.dataset``) read as they are, validated against what we run.

RD-Agent hands over Qlib's own blocks (contract §3.4 ``model_config``/``dataset_config``, §9 the workflow
YAML). We accept exactly Qlib's shapes — ``{class, module_path, kwargs}`` — and refuse what we do not
implement with one `ModelError` that lists what is supported, instead of silently training something else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from aistock_core.errors import ModelError
from aistock_core.factors.alpha158 import ALPHA158_LABEL, alpha158_expressions, alpha360_expressions

#: handler class → (feature expressions, default infer processors, default learn processors), as Qlib 0.9.7's
#: ``qlib.contrib.data.handler`` defines them.
_DEFAULT_LEARN = ({"class": "DropnaLabel"}, {"class": "CSZScoreNorm", "kwargs": {"fields_group": "label"}})
_ALPHA360_INFER = ({"class": "ProcessInf", "kwargs": {}}, {"class": "ZScoreNorm", "kwargs": {}},
                   {"class": "Fillna", "kwargs": {}})
HANDLERS: dict[str, tuple[Any, tuple[dict, ...], tuple[dict, ...]]] = {
    "Alpha158": (alpha158_expressions, (), _DEFAULT_LEARN),
    "Alpha360": (alpha360_expressions, _ALPHA360_INFER, _DEFAULT_LEARN),
}
#: data_handler_config keys we honour; ``freq`` must be "day", the pipes must be empty.
HANDLER_KWARGS = frozenset({
    "instruments", "start_time", "end_time", "fit_start_time", "fit_end_time", "freq", "infer_processors",
    "learn_processors", "process_type", "label", "filter_pipe", "inst_processors", "drop_raw",
})
DATASETS = ("DatasetH",)
SEGMENTS = ("train", "valid", "test")


def _callable(block: Any, where: str) -> tuple[str, dict[str, Any]]:
    """(class name, kwargs) of a Qlib ``{class, module_path, kwargs}`` block or a bare class name."""
    if isinstance(block, str):
        return block, {}
    if not isinstance(block, Mapping) or "class" not in block:
        raise ModelError(f"{where}: expected a mapping with 'class' (and optional module_path, kwargs), got "
                         f"{block!r}")
    kwargs = block.get("kwargs") or {}
    if not isinstance(kwargs, Mapping):
        raise ModelError(f"{where}.kwargs must be a mapping, got {type(kwargs).__name__}")
    return str(block["class"]), dict(kwargs)


@dataclass(frozen=True)
class ProcessorSpec:
    """One processor of a handler: Qlib class name and kwargs (fit_start/end injected like Qlib does)."""

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HandlerSpec:
    """A data handler: which features, which label, which rows, which processors (Qlib's semantics)."""

    name: str
    instruments: Any
    start_time: pd.Timestamp | None
    end_time: pd.Timestamp | None
    fit_start_time: pd.Timestamp | None
    fit_end_time: pd.Timestamp | None
    features: dict[str, str]
    labels: dict[str, str]
    infer_processors: tuple[ProcessorSpec, ...]
    learn_processors: tuple[ProcessorSpec, ...]
    process_type: str = "append"


@dataclass(frozen=True)
class DatasetSpec:
    handler: HandlerSpec
    segments: dict[str, tuple[pd.Timestamp, pd.Timestamp]]

    def segment(self, name: str) -> tuple[pd.Timestamp, pd.Timestamp]:
        try:
            return self.segments[name]
        except KeyError:
            raise ModelError(f"dataset has no {name!r} segment (has {sorted(self.segments)}); add it under "
                             "task.dataset.kwargs.segments") from None


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kwargs: dict[str, Any]


@dataclass(frozen=True)
class WorkflowSpec:
    """A parsed workflow: model + dataset, the raw blocks (logged with each run) and ``qlib_init``."""

    model: ModelSpec
    dataset: DatasetSpec
    raw: dict[str, Any]
    provider_uri: str | None = None
    #: the loop's directory (where the YAML, ``model.py`` and ``combined_factors_df.parquet`` live)
    base_dir: Path | None = None


def _time(value: Any, where: str) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        return pd.Timestamp(str(value))
    except ValueError:
        raise ModelError(f"{where}: {value!r} is not a date (use YYYY-MM-DD)") from None


def _processors(blocks: Any, where: str, fit: tuple[Any, Any]) -> tuple[ProcessorSpec, ...]:
    from aistock_core.models.processors import PROCESSORS, fits_on_window

    if not isinstance(blocks, list | tuple):
        raise ModelError(f"{where} must be a list of processors, got {type(blocks).__name__}")
    out = []
    for k, block in enumerate(blocks):
        name, kwargs = _callable(block, f"{where}[{k}]")
        if name not in PROCESSORS:
            raise ModelError(f"{where}[{k}]: processor {name!r} is not supported; supported: "
                             f"{', '.join(sorted(PROCESSORS))}")
        if fits_on_window(name):  # Qlib's check_transform_proc: the handler's fit window overrides
            if fit[0] is None or fit[1] is None:
                raise ModelError(f"{where}[{k}]: {name} fits on fit_start_time..fit_end_time; set both in "
                                 "data_handler_config")
            kwargs.update(fit_start_time=fit[0], fit_end_time=fit[1])
        out.append(ProcessorSpec(name, kwargs))
    return tuple(out)


def _label(value: Any, where: str) -> dict[str, str]:
    """Qlib's label config: ``[[expr, ...], [name, ...]]`` (or ``[expr, ...]`` named LABEL0..)."""
    if value is None:
        return {"LABEL0": ALPHA158_LABEL}
    if isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, list | tuple) for v in value):
        exprs, names = value
    elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        exprs, names = value, [f"LABEL{i}" for i in range(len(value))]
    else:
        raise ModelError(f"{where}: expected [[expression, ...], [name, ...]], got {value!r}")
    if len(exprs) != len(names) or not exprs:
        raise ModelError(f"{where}: {len(exprs)} expressions but {len(names)} names")
    return dict(zip(map(str, names), map(str, exprs), strict=True))


def parse_handler(block: Any) -> HandlerSpec:
    name, kw = _callable(block, "task.dataset.kwargs.handler")
    if name not in HANDLERS:
        raise ModelError(f"handler {name!r} is not supported; supported: {', '.join(HANDLERS)}")
    unknown = sorted(set(kw) - HANDLER_KWARGS)
    if unknown:
        raise ModelError(f"handler {name}: unknown data_handler_config key(s) {unknown}; supported: "
                         f"{sorted(HANDLER_KWARGS)}")
    if kw.get("freq", "day") != "day":
        raise ModelError(f"handler {name}: freq {kw['freq']!r} is not supported (only 'day')")
    for pipe in ("filter_pipe", "inst_processors"):
        if kw.get(pipe):
            raise ModelError(f"handler {name}: {pipe} is not supported (leave it empty)")
    process_type = kw.get("process_type", "append")
    if process_type not in ("append", "independent"):
        raise ModelError(f"handler {name}: process_type {process_type!r} is not 'append' or 'independent'")
    features, infer, learn = HANDLERS[name]
    fit = (_time(kw.get("fit_start_time"), "fit_start_time"), _time(kw.get("fit_end_time"), "fit_end_time"))
    instruments = kw.get("instruments", "csi500")
    if not isinstance(instruments, str | list | tuple):
        raise ModelError(f"handler {name}: instruments must be a market name or a list of codes, got "
                         f"{instruments!r}")
    return HandlerSpec(
        name=name,
        instruments=instruments if isinstance(instruments, str) else list(instruments),
        start_time=_time(kw.get("start_time"), "start_time"),
        end_time=_time(kw.get("end_time"), "end_time"),
        fit_start_time=fit[0],
        fit_end_time=fit[1],
        features=features(),
        labels=_label(kw.get("label"), f"handler {name}: label"),
        infer_processors=_processors(list(kw.get("infer_processors", infer)), "infer_processors", fit),
        learn_processors=_processors(list(kw.get("learn_processors", learn)), "learn_processors", fit),
        process_type=process_type,
    )


def parse_dataset(block: Any) -> DatasetSpec:
    name, kw = _callable(block, "task.dataset")
    if name not in DATASETS:
        raise ModelError(f"dataset class {name!r} is not supported; supported: {', '.join(DATASETS)}")
    unknown = sorted(set(kw) - {"handler", "segments", "fetch_kwargs"})
    if unknown:
        raise ModelError(f"dataset {name}: unknown kwarg(s) {unknown}; supported: handler, segments")
    if "handler" not in kw:
        raise ModelError(f"dataset {name}: kwargs.handler is missing")
    segments = kw.get("segments")
    if not isinstance(segments, Mapping) or "train" not in segments:
        raise ModelError(f"dataset {name}: kwargs.segments must map at least 'train' to [start, end]")
    parsed = {}
    for seg, span in segments.items():
        if not isinstance(span, list | tuple) or len(span) != 2:
            raise ModelError(f"segment {seg!r}: expected [start, end], got {span!r}")
        start, end = _time(span[0], f"segment {seg}"), _time(span[1], f"segment {seg}")
        if start is None or end is None or start > end:
            raise ModelError(f"segment {seg!r}: [{span[0]}, {span[1]}] is not a window (start ≤ end, both set)")
        parsed[str(seg)] = (start, end)
    return DatasetSpec(handler=parse_handler(kw["handler"]), segments=parsed)


def parse_model(block: Any) -> ModelSpec:
    from aistock_core.models.zoo import check_kwargs

    name, kw = _callable(block, "task.model")
    check_kwargs(name, kw)
    return ModelSpec(name=name, kwargs=kw)


def parse_workflow(workflow: Mapping[str, Any], base_dir: str | Path | None = None) -> WorkflowSpec:
    """A whole Qlib workflow mapping (``qlib_init`` + ``task``), or ``{model_config, dataset_config}`` from the
    model catalog (contract §3.4). ``base_dir``: the loop's directory, for the files its config names."""
    if "task" in workflow:
        task = workflow["task"] or {}
        model, dataset = task.get("model"), task.get("dataset")
    else:
        model, dataset = workflow.get("model_config"), workflow.get("dataset_config")
    if model is None or dataset is None:
        raise ModelError("workflow config needs task.model and task.dataset (or model_config and dataset_config)")
    init = workflow.get("qlib_init") or {}
    return WorkflowSpec(model=parse_model(model), dataset=parse_dataset(dataset), raw=dict(workflow),
                        provider_uri=init.get("provider_uri"),
                        base_dir=None if base_dir is None else Path(base_dir))


def load_workflow(path: str | Path) -> WorkflowSpec:
    """Read a Qlib workflow YAML (anchors and aliases as Qlib's own loader resolves them)."""
    import yaml

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise ModelError(f"workflow config {p} does not exist") from None
    except yaml.YAMLError as exc:
        raise ModelError(f"workflow config {p} is not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(data, Mapping):
        raise ModelError(f"workflow config {p} is not a mapping")
    return parse_workflow(data, base_dir=p.parent)

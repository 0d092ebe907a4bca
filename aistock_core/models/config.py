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
    # RD-Agent's combined-factor handler: features and label come from its data_loader (`parse_loader`)
    "DataHandlerLP": (None, (), ()),
}
#: data loaders a ``DataHandlerLP`` may name: Alpha158 expressions joined with a static factor table (contract §9).
LOADERS = ("NestedDataLoader", "CombinedAlpha158DynamicFactorsLoader", "CombinedAlpha158StaticLoader")
#: data_handler_config keys we honour; ``freq`` must be "day", the pipes must be empty.
HANDLER_KWARGS = frozenset({
    "instruments", "start_time", "end_time", "fit_start_time", "fit_end_time", "freq", "infer_processors",
    "learn_processors", "process_type", "label", "filter_pipe", "inst_processors", "drop_raw", "data_loader",
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
class StaticFactors:
    """A factor table (``combined_factors_df.parquet``: (datetime, instrument) rows, ``('feature', NAME)``
    columns) joined onto the handler's expression columns.

    ``sorted_columns``: Qlib's ``NestedDataLoader`` ends with ``sort_index(axis=1)``, so its features reach the
    model sorted by name; RD-Agent's own loaders keep Alpha158's order followed by the table's.
    ``min_non_nan_ratio``/``min_overlap``: the checks of RD-Agent's ``CombinedAlpha158DynamicFactorsLoader``.
    """

    path: Path
    join: str = "left"
    sorted_columns: bool = False
    min_non_nan_ratio: float | None = None
    min_overlap: float | None = None


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
    static: StaticFactors | None = None


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


def _processors(blocks: Any, where: str, fit: tuple[Any, Any] | None) -> tuple[ProcessorSpec, ...]:
    """Processor specs; ``fit`` is the handler's fit window that Alpha158/Alpha360 inject into fitted norms
    (``check_transform_proc``), None for a plain ``DataHandlerLP``, whose processors carry their own window."""
    from aistock_core.models.processors import PROCESSORS, fits_on_window

    if not isinstance(blocks, list | tuple):
        raise ModelError(f"{where} must be a list of processors, got {type(blocks).__name__}")
    out = []
    for k, block in enumerate(blocks):
        name, kwargs = _callable(block, f"{where}[{k}]")
        if name not in PROCESSORS:
            raise ModelError(f"{where}[{k}]: processor {name!r} is not supported; supported: "
                             f"{', '.join(sorted(PROCESSORS))}")
        if fits_on_window(name) and fit is None:
            own = (_time(kwargs.get("fit_start_time"), f"{where}[{k}].fit_start_time"),
                   _time(kwargs.get("fit_end_time"), f"{where}[{k}].fit_end_time"))
            if own[0] is None or own[1] is None:
                raise ModelError(f"{where}[{k}]: {name} fits on a window; DataHandlerLP does not inject one, so set "
                                 "fit_start_time and fit_end_time in its kwargs")
            kwargs.update(fit_start_time=own[0], fit_end_time=own[1])
        elif fits_on_window(name):  # Qlib's check_transform_proc: the handler's fit window overrides
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


def _short(name: str) -> str:
    """``qlib.contrib.data.loader.Alpha158DL`` → ``Alpha158DL`` (Qlib accepts a dotted class or module_path)."""
    return name.rsplit(".", 1)[-1]


def _alpha158dl(config: Any, where: str) -> tuple[dict[str, str], dict[str, str]]:
    """Features and labels of an ``Alpha158DL`` config: ``feature`` as [[expr...], [name...]] (all of Alpha158
    when absent, as Alpha158DL defaults) and the ``label`` pair."""
    if not isinstance(config, Mapping):
        raise ModelError(f"{where}: Alpha158DL config must be a mapping with 'label' (and 'feature')")
    unknown = sorted(set(config) - {"label", "feature"})
    if unknown:
        raise ModelError(f"{where}: Alpha158DL config key(s) {unknown} are not supported; supported: label, feature")
    if "label" not in config:
        raise ModelError(f"{where}: Alpha158DL config has no 'label'; the model needs [[expression], [name]]")
    features = alpha158_expressions() if "feature" not in config else _label(config["feature"], f"{where}.feature")
    return features, _label(config["label"], f"{where}.label")


def _ratio(value: Any, where: str) -> float:
    if not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ModelError(f"{where} must be a number in [0, 1], got {value!r}")
    return float(value)


def parse_loader(block: Any, base_dir: Path | None) -> tuple[dict[str, str], dict[str, str], StaticFactors]:
    """A ``DataHandlerLP`` data_loader → (features, labels, static factor table), for the loaders of
    contract §9: ``NestedDataLoader[Alpha158DL, StaticDataLoader]`` or RD-Agent's combined loaders."""
    name, kw = _callable(block, "data_handler_config.data_loader")
    name = _short(name)
    base = base_dir or Path()

    def join_of(default: str) -> str:
        join = kw.get("join", default)
        if join not in ("left", "right", "inner", "outer"):
            raise ModelError(f"{name}: join {join!r} is not left, right, inner or outer")
        return join

    if name == "NestedDataLoader":
        loaders = kw.get("dataloader_l")
        parts = [_callable(b, f"NestedDataLoader.dataloader_l[{k}]") for k, b in enumerate(loaders or [])]
        if [_short(n) for n, _ in parts] != ["Alpha158DL", "StaticDataLoader"]:
            raise ModelError(f"NestedDataLoader: dataloader_l {[n for n, _ in parts]} is not supported; supported: "
                             "[Alpha158DL, StaticDataLoader] (the Alpha158 columns, then combined_factors_df.parquet)")
        (_, alpha), (_, static) = parts
        path = static.get("config")
        if not isinstance(path, str):
            raise ModelError(f"StaticDataLoader: config must be the path of the factor table, got {path!r}")
        features, labels = _alpha158dl(alpha.get("config"), "NestedDataLoader Alpha158DL")
        return features, labels, StaticFactors(base / path, join_of("left"), sorted_columns=True)
    if name in ("CombinedAlpha158DynamicFactorsLoader", "CombinedAlpha158StaticLoader"):
        dynamic = name == "CombinedAlpha158DynamicFactorsLoader"
        key = "dynamic_path" if dynamic else "static_path"
        allowed = {"alpha158_config", key, "join"} | ({"min_dynamic_non_nan_ratio", "min_instrument_overlap_ratio",
                                                       "enforce_instrument_format"} if dynamic else set())
        unknown = sorted(set(kw) - allowed)
        if unknown:
            raise ModelError(f"{name}: unknown kwarg(s) {unknown}; supported: {sorted(allowed)}")
        if not isinstance(kw.get(key), str):
            raise ModelError(f"{name}: {key} must be the path of the factor table")
        features, labels = _alpha158dl(kw.get("alpha158_config"), name)
        static = StaticFactors(
            base / kw[key], join_of("left" if dynamic else "outer"),
            min_non_nan_ratio=_ratio(kw.get("min_dynamic_non_nan_ratio", 0.01), f"{name}.min_dynamic_non_nan_ratio")
            if dynamic else None,
            min_overlap=_ratio(kw.get("min_instrument_overlap_ratio", 0.8), f"{name}.min_instrument_overlap_ratio")
            if dynamic else None)
        return features, labels, static
    raise ModelError(f"data_loader {name!r} is not supported; supported: {', '.join(LOADERS)}")


def parse_handler(block: Any, base_dir: Path | None = None) -> HandlerSpec:
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
    expressions, infer, learn = HANDLERS[name]
    static = None
    if name == "DataHandlerLP":
        if "data_loader" not in kw:
            raise ModelError(f"handler DataHandlerLP needs a data_loader; supported: {', '.join(LOADERS)}")
        if "label" in kw:
            raise ModelError("handler DataHandlerLP: the label belongs in the data_loader's alpha158 config")
        for key in ("fit_start_time", "fit_end_time"):
            if key in kw:
                raise ModelError(f"handler DataHandlerLP takes no {key} (Qlib refuses it); set the fit window in "
                                 "each fitted processor's kwargs, as RD-Agent's templates do")
        features, labels, static = parse_loader(kw["data_loader"], base_dir)
    elif "data_loader" in kw:
        raise ModelError(f"handler {name} builds its own data loader; use DataHandlerLP for a custom data_loader")
    else:
        features, labels = expressions(), _label(kw.get("label"), f"handler {name}: label")
    fit = (_time(kw.get("fit_start_time"), "fit_start_time"), _time(kw.get("fit_end_time"), "fit_end_time"))
    injected = None if name == "DataHandlerLP" else fit
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
        features=features,
        labels=labels,
        infer_processors=_processors(list(kw.get("infer_processors", infer)), "infer_processors", injected),
        learn_processors=_processors(list(kw.get("learn_processors", learn)), "learn_processors", injected),
        process_type=process_type,
        static=static,
    )


def parse_dataset(block: Any, base_dir: Path | None = None) -> DatasetSpec:
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
    return DatasetSpec(handler=parse_handler(kw["handler"], base_dir), segments=parsed)


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
    base = None if base_dir is None else Path(base_dir)
    return WorkflowSpec(model=parse_model(model), dataset=parse_dataset(dataset, base), raw=dict(workflow),
                        provider_uri=init.get("provider_uri"), base_dir=base)


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

"""Run a research loop's exported model: a pickled Qlib ``LGBModel`` (``params.pkl``/``model.pkl``), a
LightGBM text model, or a GeneralPTNN state dict with the loop's ``model.py`` (audited like factor code), on
features we compute, after checking their order against ``model_meta.json``.

Pickles are code, not data: unpickling can call any importable function. So a pickle is opened only when the
caller says the loop is trusted, and even then through an unpickler that resolves nothing but the handful of
classes a Qlib LightGBM model is made of (`ALLOWED`); Qlib's ``LGBModel`` itself is mapped to a plain state
holder, so neither Qlib nor any of its code is imported. Anything else in the stream is refused by name before
it is called. (This is a filter with a clear message, not an OS boundary; DESIGN §12.)
"""

from __future__ import annotations

import io
import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from aistock_core.errors import ModelError
from aistock_core.models.scoring import check_feature_order


class QlibModelState:
    """What a pickled Qlib model object holds (``__dict__``: params, model, ...), without Qlib's class."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


def _booster_class():
    import lightgbm as lgb

    return lgb.Booster


#: (module, name) → what it resolves to. Qlib model classes become `QlibModelState`.
ALLOWED: dict[tuple[str, str], Any] = {
    ("qlib.contrib.model.gbdt", "LGBModel"): QlibModelState,
    ("lightgbm.basic", "Booster"): _booster_class,
    ("collections", "OrderedDict"): __import__("collections").OrderedDict,
    ("collections", "defaultdict"): __import__("collections").defaultdict,
    ("copyreg", "_reconstructor"): __import__("copyreg")._reconstructor,
    ("builtins", "object"): object,
    # numpy scalars (best_score values) and their dtypes, under numpy 2's and numpy 1's module names
    ("numpy._core.multiarray", "scalar"): np._core.multiarray.scalar,
    ("numpy.core.multiarray", "scalar"): np._core.multiarray.scalar,
    ("numpy", "dtype"): np.dtype,
}


class _AllowListUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        target = ALLOWED.get((module, name))
        if target is None:
            raise ModelError(f"pickle references {module}.{name}, which an exported model never needs; refusing "
                             f"to load it (allowed: {', '.join(f'{m}.{n}' for m, n in ALLOWED)})")
        return target() if target is _booster_class else target


def load_pickle(path: Path, *, trusted: bool) -> Any:
    """Unpickle ``path`` through the allow-list, only for a trusted loop."""
    if not trusted:
        raise ModelError(f"{path} is a pickle from a loop that is not marked trusted; pickles can run code. "
                         "Review the loop and mark it trusted, or export the model as LightGBM text")
    try:
        return _AllowListUnpickler(io.BytesIO(path.read_bytes())).load()
    except (pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError) as exc:
        raise ModelError(f"{path} is not a loadable model pickle: {exc}") from None


def load_booster(path: str | Path, *, trusted: bool = False):
    """A LightGBM booster from ``params.pkl``/``model.pkl`` (a Qlib LGBModel or a bare Booster) or a text model."""
    import lightgbm as lgb

    p = Path(path)
    if not p.is_file():
        raise ModelError(f"exported model {p} does not exist")
    if p.suffix in (".pkl", ".pickle"):
        obj = load_pickle(p, trusted=trusted)
        booster = getattr(obj, "model", obj) if isinstance(obj, QlibModelState) else obj
        if not isinstance(booster, lgb.Booster):
            raise ModelError(f"{p} holds a {type(booster).__name__}, not a fitted LightGBM model")
        return booster
    try:
        return lgb.Booster(model_file=str(p))
    except lgb.basic.LightGBMError as exc:
        raise ModelError(f"{p} is not a LightGBM model file: {exc}") from None


def expected_features(meta: dict[str, Any], base_dir: str | Path | None = None) -> list[str]:
    """The model's input order from ``model_meta.json``: ``feature_schema`` when it lists names, else the
    handler's features (Alpha158/Alpha360 order, or a combined-factor handler's expressions and the columns of
    its factor table under ``base_dir``) from ``dataset_conf`` (contract §4.4)."""
    schema = meta.get("feature_schema")
    if isinstance(schema, list | tuple) and len(schema) == 2 and isinstance(schema[1], list | tuple):
        return [str(n) for n in schema[1]]  # Qlib's [[expr...], [name...]]
    if isinstance(schema, list | tuple) and schema and all(isinstance(n, str) for n in schema):
        return list(schema)
    from aistock_core.models.config import parse_handler

    dataset = meta.get("dataset_conf") or {}
    handler = (dataset.get("kwargs") or {}).get("handler")
    if handler is None:
        raise ModelError("model_meta.json has neither a feature_schema nor dataset_conf.kwargs.handler: the "
                         "feature order cannot be checked, so the model is not run")
    parsed = parse_handler(handler, None if base_dir is None else Path(base_dir))
    if parsed.static is None:
        return list(parsed.features)
    from aistock_core.models.dataset import feature_order, read_static_factors

    return feature_order(parsed, list(read_static_factors(parsed.static, None, None).columns))


def read_meta(path: str | Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ModelError(f"{path} does not exist; an exported model needs its model_meta.json") from None
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path} is not valid JSON: {exc}") from None


def load_network(state_dict: str | Path, meta: dict[str, Any], code_dir: str | Path):
    """A loop's GeneralPTNN: its state dict (tensors only) in the network of ``meta['model_conf']``, built from
    the loop's audited ``model.py`` under ``code_dir`` (`ptnn.load_torch_predictor`)."""
    from aistock_core.models.ptnn import load_torch_predictor

    conf = meta.get("model_conf") or {}
    if conf.get("class") != "GeneralPTNN":
        raise ModelError(f"a torch state dict needs model_meta.json's model_conf to be a GeneralPTNN block (with "
                         f"pt_model_uri and pt_model_kwargs), got class {conf.get('class')!r}")
    return load_torch_predictor(state_dict, dict(conf.get("kwargs") or {}), code_dir)


def score_exported(model, features: pd.DataFrame, expected: list[str]) -> pd.Series:
    """Scores of ``features`` after checking names/order against ``expected`` and the model's input width (a
    LightGBM booster, or a network whose first layer states it)."""
    check_feature_order(expected, list(features.columns), "exported model features")
    width = model.num_feature()
    if width is not None and width != len(expected):
        raise ModelError(f"the exported model takes {width} features but model_meta.json lists "
                         f"{len(expected)}; the meta does not belong to this model")
    return pd.Series(model.predict(features.to_numpy()), index=features.index, name="score")

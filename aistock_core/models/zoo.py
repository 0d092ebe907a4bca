"""The model classes a Qlib workflow may name, each a module with Qlib's semantics and a kwargs check.

Imports are lazy: parsing a config must not import torch or XGBoost unless the config names them.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from aistock_core.errors import ModelError

#: ``task.model.class`` → (module, class) under ``aistock_core.models``.
MODELS: dict[str, tuple[str, str]] = {
    "LGBModel": ("lgb", "LGBModel"),
    "XGBModel": ("xgb", "XGBModel"),
    "LinearModel": ("linear", "LinearModel"),
    "GeneralPTNN": ("ptnn", "GeneralPTNN"),
}


def _module(name: str):
    if name not in MODELS:
        raise ModelError(f"model class {name!r} is not supported; supported: {', '.join(MODELS)}")
    return importlib.import_module(f"aistock_core.models.{MODELS[name][0]}")


def check_kwargs(name: str, kwargs: dict[str, Any]) -> None:
    _module(name).check_kwargs(kwargs)


def build(name: str, kwargs: dict[str, Any], code_dir: str | Path | None = None):
    """An unfitted model; ``code_dir`` is where a GeneralPTNN's ``pt_model_uri`` file lives."""
    cls = getattr(_module(name), MODELS[name][1])
    return cls(code_dir=code_dir, **kwargs) if name == "GeneralPTNN" else cls(**kwargs)

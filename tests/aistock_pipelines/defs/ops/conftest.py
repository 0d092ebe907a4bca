"""The loopback HTTP receiver of the alert tests, reused for the Dagster side."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest


def _receivers():
    name = "aistock_alert_test_receivers"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[3] / "aistock_core" / "alerts" / "receivers.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture
def receiver():
    with _receivers().HttpReceiver() as server:
        yield server

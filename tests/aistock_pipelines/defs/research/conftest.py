"""A demo export and an HTTP peer for the research assets and sensor (same peer as the core research tests)."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aistock_core.data.service import DataService
from aistock_core.data.synthetic import SyntheticMarket
from aistock_core.demo.export import write_demo_export

PEER_PY = Path(__file__).parents[3] / "aistock_core" / "research" / "peer.py"


def _peer_module():
    name = "aistock_research_test_peer"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, PEER_PY)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def research_export_master(tmp_path_factory) -> Path:
    service = DataService(SyntheticMarket(seed=5, n_instruments=40, start="2024-03-01", end="2025-03-31"))
    return write_demo_export(service, tmp_path_factory.mktemp("rx") / "demo_export", seed=5)


@pytest.fixture
def research_export(research_export_master, tmp_path) -> Path:
    return Path(shutil.copytree(research_export_master, tmp_path / "export"))


@pytest.fixture
def research_peer(research_export) -> Iterator:
    with _peer_module().Peer(research_export) as server:
        yield server

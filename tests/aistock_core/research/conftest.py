"""Research fixtures: a demo export from a small synthetic market, and a real HTTP peer serving a copy of it."""

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


def load_peer_module():
    """tests/ has no packages (importlib mode): load peer.py by path, once."""
    name = "aistock_research_test_peer"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("peer.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def demo_service() -> DataService:
    return DataService(SyntheticMarket(seed=11, n_instruments=60, start="2024-01-02", end="2025-03-31"))


@pytest.fixture(scope="session")
def demo_export_master(demo_service, tmp_path_factory) -> Path:
    return write_demo_export(demo_service, tmp_path_factory.mktemp("export") / "demo_export", seed=11)


@pytest.fixture
def export_dir(demo_export_master, tmp_path) -> Path:
    """A private copy: tests may damage it (remove a catalog, add a loop)."""
    return Path(shutil.copytree(demo_export_master, tmp_path / "export"))


@pytest.fixture
def peer(export_dir) -> Iterator:
    with load_peer_module().Peer(export_dir) as server:
        yield server

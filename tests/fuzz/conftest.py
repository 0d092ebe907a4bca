"""Fuzz fixtures: the harness module (loaded by path: tests/ has no packages) and one world per session."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def _load(name: str, path: Path):
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def load_harness():
    return _load("aistock_fuzz_harness", HERE / "harness.py")


@pytest.fixture(scope="session")
def harness():
    return load_harness()


@pytest.fixture(scope="session")
def fuzz_world(harness, tmp_path_factory) -> Iterator:
    """(world, peer): the world, with the results-API peer serving its export."""
    peer_module = _load("aistock_research_test_peer", HERE.parent / "aistock_core/research/peer.py")
    world = harness.build_world(tmp_path_factory.mktemp("fuzz") / "world")
    with peer_module.Peer(world.export) as peer:
        world.peer_url = peer.url
        yield world, peer

"""Timing helpers shared by the benchmark scripts (run as ``python benchmarks/bench_x.py``, so importable)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    """(seconds, result) of one call."""
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def best_of(fn: Callable[[], T], repeat: int, *, warmup: bool = False) -> tuple[float, T]:
    """Best seconds over ``repeat`` calls and the last call's result; ``warmup`` runs one untimed call first
    (page cache, lazy imports, JIT) so the figure is the steady state."""
    if warmup:
        fn()
    best, out = float("inf"), None
    for _ in range(max(repeat, 1)):
        out = None  # the previous result is freed first: every call then finds the memory the first one had
        seconds, out = timed(fn)
        best = min(best, seconds)
    return best, out

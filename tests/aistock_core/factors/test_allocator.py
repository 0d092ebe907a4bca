"""`allocator.keep_freed_blocks`: with glibc's thresholds fixed, a compute's temporaries reuse freed memory
instead of faulting fresh pages in; an operator's own setting is left alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

glibc = pytest.mark.skipif(not hasattr(os, "confstr") or "glibc" not in (os.confstr("CS_GNU_LIBC_VERSION") or ""),
                           reason="glibc's mallopt is what is tuned")

COMPUTE = """
import json, resource, sys
import numpy as np
from aistock_core.data.service import DataService
from aistock_core.data.synthetic import SyntheticMarket
from aistock_core.factors import allocator, engine
from aistock_core.factors.alpha158 import alpha158_expressions
if sys.argv[1] == "untuned":
    engine.keep_freed_blocks = lambda: False
svc = DataService(SyntheticMarket(seed=2, n_instruments=200, start="2019-01-02", end="2022-12-30"))  # 3 blocks
eng = engine.FactorEngine(alpha158_expressions())
panel = svc.get_panel("all", fields=eng.fields, adjust="qlib", dtype=np.float32)
eng.compute_stack(panel)  # kernels loaded, the heap grown once
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
stack = eng.compute_stack(panel)
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({"faults": faults, "tuned": allocator.keep_freed_blocks.cache_info().currsize > 0,
                  "sum": float(np.nansum(stack, dtype=np.float64))}))
"""


def run(mode: str, **env: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")} | env
    out = subprocess.run([sys.executable, "-c", COMPUTE, mode], capture_output=True, text=True, env=environ,
                         check=True, timeout=300)
    return json.loads(out.stdout.strip().splitlines()[-1])


@glibc
def test_temporaries_reuse_freed_memory():
    tuned, untuned = run("tuned"), run("untuned")
    assert tuned["tuned"] and not untuned["tuned"]
    assert tuned["sum"] == untuned["sum"]  # the same values either way
    assert tuned["faults"] < untuned["faults"] / 2, (tuned, untuned)


@glibc
def test_an_operators_threshold_wins():
    script = "from aistock_core.factors.allocator import keep_freed_blocks; print(keep_freed_blocks())"
    for env in ({"MALLOC_TRIM_THRESHOLD_": "131072"}, {"MALLOC_MMAP_THRESHOLD_": "131072"}, {}):
        environ = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")} | env
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=environ, check=True)
        assert out.stdout.strip() == ("False" if env else "True")

"""Every command that reads outside input, fed malformed variants: exit 2, one line naming the input, no
traceback, nothing changed (issue 15). The table is tests/fuzz/harness.py's quick subset; the benchmark
(benchmarks/bench_fuzz.py) runs all of it, slow cases included."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from aistock_core.errors import CalendarError

pytestmark = pytest.mark.xdist_group("fuzz")  # one worker builds the world once



def _harness():
    """The harness module, loaded by path once (conftest's ``harness`` fixture gets the same module object)."""
    name = "aistock_fuzz_harness"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("harness.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


CASES = _harness().quick_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_gets_one_clear_line_and_changes_nothing(harness, fuzz_world, case):
    world, peer = fuzz_world
    verdict = harness.run_case(world, case, peer)
    assert not verdict.hang, f"{case.name}: no answer within the limit"
    assert verdict.clear and verdict.unchanged and not verdict.crash, verdict.problem


@pytest.mark.parametrize("key", ["", "garbage", "2025-02-30", "2025-1-2x", "2025-01-04", "1999-01-04", "2025/01/02",
                                 "20250102", "2025-01-02T00:00", " 2025-01-02", "9999-12-31", "2025-01-02\x00"])
def test_malformed_partition_keys_are_calendar_errors(key):
    """Partition keys reach asset bodies through `trade_date`: anything but a session is one CalendarError."""
    from aistock_pipelines.partitions import trade_date

    with pytest.raises(CalendarError):
        trade_date(key)

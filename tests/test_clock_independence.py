"""The suite does not depend on the machine's date: the date-sensitive tests pass with the clock faked.

Tests marked ``clock`` are the ones whose subject is "today" (horizon warnings, default data ends, partitions
past 2026, ``--json`` output while the calendar warns). Each pins its own "today" through ``AISTOCK_NOW``; this
test re-runs them all in a fresh pytest with the *machine's* clock moved by libfaketime to days that broke the
suite before (on the horizon's last day, and after it), so a test or a code path
that still reads the wall clock fails here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize("machine_date", ["2026-12-31 15:30:00", "2027-03-01 10:00:00"])
def test_date_sensitive_tests_pass_whatever_the_machine_date(machine_date, faketime, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AISTOCK_", "PYTEST_XDIST"))}
    proc = subprocess.run(
        [*faketime(machine_date), sys.executable, "-m", "pytest", "-m", "clock", "-q", "-p", "no:cacheprovider",
         "-p", "no:randomly", "-n", "0", "--basetemp", str(tmp_path / "run"),
         # Two slow ones are left to the main run: one fakes its own clock, one builds a whole demo export.
         "--deselect", "tests/aistock_pipelines/test_partitions.py::test_partitions_follow_the_holiday_file_into_2027",
         "--deselect", "tests/aistock_pipelines/cli/test_catalog_cli.py::test_json_stays_pure_when_the_calendar_warns"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    tail = proc.stdout[-4000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, tail
    summary = proc.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary

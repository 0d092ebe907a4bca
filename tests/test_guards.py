"""The test-suite guards themselves: a ``@pytest.mark.qlib`` test without pyqlib skips on a laptop and fails
under CI (run as a separate pytest process over a tiny suite that uses this repository's conftest)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CONFTEST = Path(__file__).with_name("conftest.py")


def _run_without_qlib(tmp_path: Path, ci: bool) -> subprocess.CompletedProcess:
    # ``sys.modules["qlib"] = None`` makes importlib.util.find_spec("qlib") answer None: qlib "not installed".
    (tmp_path / "noqlib.py").write_text('import sys\n\nsys.modules["qlib"] = None\n')
    (tmp_path / "conftest.py").write_text(CONFTEST.read_text())
    (tmp_path / "test_needs_qlib.py").write_text(
        "import pytest\n\n\n@pytest.mark.qlib\ndef test_parity():\n    assert True\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"} | {"PYTHONPATH": str(tmp_path)}
    env |= {"CI": "true"} if ci else {}
    return subprocess.run([sys.executable, "-m", "pytest", str(tmp_path), "-q", "-p", "noqlib", "-p", "no:randomly",
                           "-p", "no:cacheprovider", "-p", "no:xdist", "-o", "markers=qlib: guard test"],
                          capture_output=True, text=True, env=env, cwd=tmp_path)


@pytest.mark.parametrize(("ci", "outcome", "exit_code"), [(False, "1 skipped", 0), (True, "1 error", 1)])
def test_missing_qlib_skips_locally_and_fails_under_ci(tmp_path, ci, outcome, exit_code):
    done = _run_without_qlib(tmp_path, ci)
    assert outcome in done.stdout and done.returncode == exit_code, done.stdout + done.stderr
    if ci:  # the failure names what is missing and how to install it
        assert "the 'qlib' extra" in done.stdout and "pip install" in done.stdout

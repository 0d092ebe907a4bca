"""Run audited RD-Agent factor code in a separate, limited process and read back one float32 column.

Why a process and not ``exec`` in ours: LLM-written code can hang, eat memory, crash the interpreter or try to
touch the machine, and none of that may reach the pipeline that asked for it. Each run gets:

* a fresh temp directory holding only ``daily_pv.h5`` (built from the `DataService` per rdagent.md §8 by
  `aistock_core.data.h5.write_daily_pv`) and the factor file, also its ``HOME`` and ``TMPDIR``;
* ``python -I`` (no user site, no ``PYTHON*`` variables, no cwd on ``sys.path``) and a scrubbed environment
  (minimal ``PATH``; no ``AISTOCK_*``, credentials or proxies);
* limits set in the child (`sandbox_runner`): address space (RLIMIT_AS), CPU seconds, file size; plus a
  wall-clock timeout enforced here by killing the child's whole process group;
* an audit hook in the child that refuses writes outside the directory, process creation and sockets.

The static audit (`aistock_core.factors.audit`) runs first; rejected code never starts. Every failure ends as a
`FactorError` naming the factor and the reason; the caller records it against the factor (registry).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from aistock_core.data.service import DataService, Universe
from aistock_core.errors import FactorError
from aistock_core.factors.audit import AuditReport, require_clean

RUNNER = Path(__file__).with_name("sandbox_runner.py")
#: The only environment the child sees. Thread caps keep BLAS from reserving address space per core.
_BASE_ENV = {
    "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMEXPR_MAX_THREADS": "1", "HDF5_USE_FILE_LOCKING": "FALSE",
}
_STDERR_TAIL = 2000


@dataclass(frozen=True)
class SandboxLimits:
    """Resource caps of one run. Defaults fit a few years of a few hundred stocks with room to spare."""

    wall_seconds: float = 120.0
    cpu_seconds: int = 120
    memory_mb: int = 2048
    file_mb: int = 1024

    def __post_init__(self) -> None:
        if self.wall_seconds <= 0 or self.cpu_seconds <= 0 or self.memory_mb < 256 or self.file_mb <= 0:
            raise FactorError(
                f"invalid sandbox limits {self}: times must be positive and memory at least 256 MiB "
                "(the interpreter with pandas needs that much address space just to start)"
            )


@dataclass(frozen=True)
class SandboxResult:
    """A successful run: the factor's values on (a subset of) the input index, float32, named after it."""

    name: str
    values: pd.Series
    audit: AuditReport
    wall_seconds: float
    stderr_tail: str


def _scrubbed_env(workdir: Path) -> dict[str, str]:
    """Nothing of the parent's environment except what the interpreter needs to start."""
    return {**_BASE_ENV, "HOME": str(workdir), "TMPDIR": str(workdir), "MPLCONFIGDIR": str(workdir)}


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _signal_reason(returncode: int, limits: SandboxLimits) -> str:
    sig = -returncode
    if sig == signal.SIGXCPU:
        return f"CPU limit of {limits.cpu_seconds}s exceeded (killed by SIGXCPU)"
    if sig == signal.SIGKILL:
        return f"killed by SIGKILL (likely the memory limit of {limits.memory_mb} MiB or the system OOM killer)"
    if sig == signal.SIGXFSZ:
        return f"file size limit of {limits.file_mb} MiB exceeded (killed by SIGXFSZ)"
    if sig == signal.SIGSEGV:
        return "crashed with a segmentation fault"
    return f"killed by signal {signal.Signals(sig).name}" if sig in signal.Signals._value2member_map_ \
        else f"killed by signal {sig}"


def _input_index(daily_pv: Path) -> pd.MultiIndex:
    """The input index, read before the child runs (the child could rewrite the file afterwards)."""
    frame = pd.read_hdf(daily_pv, key="data")
    return frame.index


def run_factor_in_dir(
    source: str,
    workdir: Path,
    input_index: pd.MultiIndex,
    *,
    name: str | None = None,
    filename: str = "factor.py",
    limits: SandboxLimits | None = None,
) -> SandboxResult:
    """Audit ``source``, run it in ``workdir`` (which must already hold ``daily_pv.h5``), return its column.

    ``input_index`` is the index of that ``daily_pv.h5``; the output's rows are positions into it. ``name`` is
    the factor's name (from the catalog); without it the name comes from the entry point or the output column.
    """
    limits = limits or SandboxLimits()
    report = require_clean(source, filename)
    factor = name or report.factor_name
    label = factor or filename
    if report.style == "class" and report.entry is None:
        raise FactorError(f"factor {label}: class-style code exposes no factor_<name> wrapper or class to call")
    code_file = workdir / "factor.py"
    code_file.write_text(source, encoding="utf-8")
    spec = {
        "workdir": str(workdir), "code_file": str(code_file), "style": report.style, "entry": report.entry,
        "factor_name": factor, "memory_bytes": limits.memory_mb << 20, "cpu_seconds": limits.cpu_seconds,
        "file_bytes": limits.file_mb << 20,
    }
    spec_file = workdir / "_sandbox_spec.json"
    spec_file.write_text(json.dumps(spec), encoding="utf-8")
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-I", str(RUNNER), str(spec_file)], cwd=workdir, env=_scrubbed_env(workdir),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=limits.wall_seconds)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, err = proc.communicate()
        raise FactorError(
            f"factor {label}: timed out after {limits.wall_seconds:g}s wall-clock and was killed; "
            f"look for an endless loop or raise SandboxLimits.wall_seconds"
        ) from None
    elapsed = time.perf_counter() - started
    stderr_tail = err.decode("utf-8", "replace")[-_STDERR_TAIL:]
    if proc.returncode < 0:
        raise FactorError(f"factor {label}: {_signal_reason(proc.returncode, limits)}\n{stderr_tail}")
    try:
        status = json.loads(out.decode("utf-8"))
    except ValueError:
        raise FactorError(
            f"factor {label}: the sandbox exited with code {proc.returncode} without a report\n{stderr_tail}"
        ) from None
    if not status.get("ok"):
        blocked = status.get("blocked") or []
        detail = f"; blocked: {'; '.join(blocked[:5])}" if blocked else ""
        trace = status.get("traceback", "")
        raise FactorError(f"factor {label}: {status.get('kind', 'error')}: {status.get('error')}{detail}\n{trace}")
    positions = np.load(workdir / "_out_positions.npy", allow_pickle=False)
    values = np.load(workdir / "_out_values.npy", allow_pickle=False)
    if positions.shape != values.shape or (positions.size and (positions.min() < 0 or
                                                               positions.max() >= len(input_index))):
        raise FactorError(f"factor {label}: sandbox output is inconsistent with the input index")
    column = str(status.get("column") or label)
    order = np.argsort(positions, kind="stable")
    series = pd.Series(values[order], index=input_index[positions[order]], name=column, dtype=np.float32)
    return SandboxResult(column, series, report, elapsed, stderr_tail)


def run_factor_code(
    source: str,
    service: DataService,
    universe: Universe,
    *,
    start=None,
    end=None,
    name: str | None = None,
    filename: str = "factor.py",
    limits: SandboxLimits | None = None,
) -> SandboxResult:
    """Audit and run factor code on a fresh ``daily_pv.h5`` of ``universe`` over [start, end].

    The directory is removed afterwards whatever happens; the audit runs before any data is written.
    """
    require_clean(source, filename)
    from aistock_core.data.h5 import write_daily_pv  # data box; imported here to keep audit-only users light

    workdir = Path(tempfile.mkdtemp(prefix="aistock-factor-"))
    try:
        daily_pv = write_daily_pv(service, universe, workdir / "daily_pv.h5", start=start, end=end)
        index = _input_index(daily_pv)
        daily_pv.chmod(0o444)
        return run_factor_in_dir(source, workdir, index, name=name, filename=filename, limits=limits)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run_factor_codes(
    sources: dict[str, str],
    service: DataService,
    universe: Universe,
    *,
    start=None,
    end=None,
    limits: SandboxLimits | None = None,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Run several factors (name → source) on one shared ``daily_pv.h5``; failures are collected, not raised.

    Returns the frame of successful factors (index = the input index, one float32 column each) and
    ``{name: reason}`` for each factor that was rejected or failed, so one bad factor never blocks the rest.
    """
    from aistock_core.data.h5 import write_daily_pv

    columns: dict[str, pd.Series] = {}
    failures: dict[str, str] = {}
    base = Path(tempfile.mkdtemp(prefix="aistock-factors-"))
    try:
        daily_pv = write_daily_pv(service, universe, base / "daily_pv.h5", start=start, end=end)
        index = _input_index(daily_pv)
        for name, source in sources.items():
            workdir = Path(tempfile.mkdtemp(prefix=f"{_safe(name)}-", dir=base))
            try:
                shutil.copyfile(daily_pv, workdir / "daily_pv.h5")
                (workdir / "daily_pv.h5").chmod(0o444)
                result = run_factor_in_dir(source, workdir, index, name=name, filename=f"{name}.py", limits=limits)
                columns[name] = result.values.rename(name)
            except FactorError as exc:
                failures[name] = str(exc)
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    frame = pd.DataFrame(columns, index=index).astype(np.float32) if columns else pd.DataFrame(index=index)
    return frame, failures


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:40] or "factor"


def load_code_dir(code_dir: str | Path, names: Sequence[str] | None = None) -> dict[str, str]:
    """Factor sources from a directory: ``<name>.py`` / ``<name>_factor.py`` files (RD-Agent workspaces name them
    so), or ``<name>/factor.py`` folders.

    The name is the file stem (or folder name). ``names`` restricts and orders the result; a requested name with
    no file is a `FactorError` listing what the directory holds.
    """
    root = Path(code_dir).expanduser()
    if not root.is_dir():
        raise FactorError(f"factor code directory {root} does not exist")
    found: dict[str, Path] = {p.stem.removesuffix("_factor"): p for p in sorted(root.glob("*.py"))
                              if not p.name.startswith("_") and p.name != "factor_entry.py"}
    found.update({p.parent.name: p for p in sorted(root.glob("*/factor.py"))})
    if names is None:
        return {name: path.read_text(encoding="utf-8") for name, path in sorted(found.items())}
    missing = [n for n in names if n not in found]
    if missing:
        raise FactorError(
            f"no code for factor(s) {missing} in {root}; it holds {sorted(found) or 'no .py files'} "
            "(expected <name>.py, <name>_factor.py or <name>/factor.py)"
        )
    return {n: found[n].read_text(encoding="utf-8") for n in names}

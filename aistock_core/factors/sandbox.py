"""Run audited RD-Agent factor code behind the OS sandbox and read back one validated float32 column.

Why not ``exec`` in ours: LLM-written code can hang, eat memory, crash the interpreter or attack the machine,
and none of that may reach the pipeline that asked for it. The static audit (`aistock_core.factors.audit`)
runs first and explains rejections; rejected code never starts. Accepted code runs through
`aistock_core.untrusted.run_untrusted` (uid 65534 in fresh namespaces, a read-only view of the interpreter,
no network, a size-bounded work dir holding only ``daily_pv.h5`` and the factor, a whole-tree kill), with
`sandbox_runner` as its entry point. The runner's own audit hook only turns blocked operations into readable
messages; the kernel is the boundary.

Nothing the child says is trusted: success needs exit code 0, the runner's status saying so, and the two
output arrays passing `_validated` (regular files of bounded size, exact dtypes, one dimension, equal length,
unique positions inside the input index, which the parent read itself before the run). Every failure ends
as a `FactorError` naming the factor and the reason; the caller records it against the factor (registry).
"""

from __future__ import annotations

import io
import json
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from aistock_core.config import SandboxMode
from aistock_core.cpus import usable_cpus
from aistock_core.data.service import DataService, Universe
from aistock_core.errors import FactorError
from aistock_core.factors.audit import AuditReport, require_clean
from aistock_core.untrusted import UntrustedLimits, UntrustedRun, run_untrusted

RUNNER = Path(__file__).with_name("sandbox_runner.py")
#: Resource caps of one factor run (the generic limits of `aistock_core.untrusted`).
SandboxLimits = UntrustedLimits
POSITIONS, VALUES, STATUS = "_out_positions.npy", "_out_values.npy", "_status.json"
_MESSAGE_CHARS = 4000


@dataclass(frozen=True)
class SandboxResult:
    """A successful run: the factor's values on (a subset of) the input index, float32, named after it."""

    name: str
    values: pd.Series
    audit: AuditReport
    wall_seconds: float
    stderr_tail: str


def _signal_reason(sig: int, limits: UntrustedLimits) -> str:
    if sig == signal.SIGXCPU:
        return f"CPU limit of {limits.cpu_seconds}s exceeded (killed by SIGXCPU)"
    if sig == signal.SIGKILL:
        return f"killed by SIGKILL (likely the memory limit of {limits.memory_mb} MiB or the system OOM killer)"
    if sig == signal.SIGXFSZ:
        return f"file size limit of {limits.disk_mb} MiB exceeded (killed by SIGXFSZ)"
    if sig == signal.SIGSEGV:
        return "crashed with a segmentation fault"
    return f"killed by signal {signal.Signals(sig).name}" if sig in signal.Signals._value2member_map_ \
        else f"killed by signal {sig}"


def _input_index(daily_pv: Path) -> pd.MultiIndex:
    """The input index, read by the parent before the child runs: the reference every output is checked against."""
    frame = pd.read_hdf(daily_pv, key="data")
    return frame.index


def _status(raw: bytes | None) -> dict[str, str]:
    """The runner's status, for messages only: string fields of a JSON object, each cut to a bounded length."""
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    out = {k: str(v)[:_MESSAGE_CHARS] for k, v in data.items() if k in {"ok", "kind", "error", "traceback", "column"}}
    blocked = data.get("blocked")
    if isinstance(blocked, list) and blocked:
        out["blocked"] = "; ".join(str(b)[:200] for b in blocked[:5])
    return out


def _array(run: UntrustedRun, name: str, dtype: type, label: str) -> np.ndarray:
    raw = run.outputs.get(name)
    if raw is None:
        raise FactorError(f"factor {label}: sandbox output {name} did not come back "
                          f"({run.refused.get(name, 'missing')})")
    try:
        array = np.load(io.BytesIO(raw), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise FactorError(f"factor {label}: sandbox output {name} is not a plain .npy array: {exc}") from None
    if not isinstance(array, np.ndarray) or array.ndim != 1 or array.dtype != np.dtype(dtype):
        raise FactorError(f"factor {label}: sandbox output {name} must be a 1-D {np.dtype(dtype)} array, got "
                          f"{getattr(array, 'dtype', type(array).__name__)} with shape {getattr(array, 'shape', '?')}")
    return array


def _validated(run: UntrustedRun, index: pd.MultiIndex, name: str | None, label: str,
               limits: UntrustedLimits) -> tuple[str, pd.Series]:
    """The factor's column from what came back, or the `FactorError` saying why there is none."""
    tail = run.output_tail
    if run.timed_out:
        raise FactorError(f"factor {label}: timed out after {limits.wall_seconds:g}s wall-clock and was killed "
                          f"with everything it started; look for an endless loop or raise wall_seconds")
    if run.signal:
        raise FactorError(f"factor {label}: {_signal_reason(run.signal, limits)}\n{tail}")
    status = _status(run.outputs.get(STATUS))
    if status.get("ok") != "True" or run.exit_code != 0:
        detail = f"; blocked: {status['blocked']}" if "blocked" in status else ""
        error = status.get("error") or f"the sandbox exited with code {run.exit_code} without a report"
        raise FactorError(f"factor {label}: {status.get('kind', 'error')}: {error}{detail}\n"
                          f"{status.get('traceback', '')}{tail}")
    positions = _array(run, POSITIONS, np.int64, label)
    values = _array(run, VALUES, np.float32, label)
    if len(positions) != len(values) or len(positions) > len(index) or (positions.size and (
            positions.min() < 0 or positions.max() >= len(index) or len(np.unique(positions)) != len(positions))):
        raise FactorError(f"factor {label}: sandbox output is inconsistent with the input index "
                          f"({len(positions)} positions, {len(values)} values, {len(index)} input rows)")
    claimed = status.get("column", "")
    column = name or (claimed if claimed.isidentifier() and len(claimed) <= 100 else label)
    order = np.argsort(positions, kind="stable")
    return column, pd.Series(values[order], index=index[positions[order]], name=column, dtype=np.float32)


def run_factor_file(
    source: str,
    daily_pv: Path,
    input_index: pd.MultiIndex,
    *,
    name: str | None = None,
    filename: str = "factor.py",
    limits: UntrustedLimits | None = None,
    mode: SandboxMode | None = None,
) -> SandboxResult:
    """Audit ``source``, run it on ``daily_pv`` (world-readable; its index is ``input_index``), return its column.

    The output's rows are positions into ``input_index``. ``name`` is the factor's name (from the catalog);
    without it the name comes from the entry point or the output column.
    """
    limits = limits or UntrustedLimits()
    report = require_clean(source, filename)
    factor = name or report.factor_name
    label = factor or filename
    if report.style == "class" and report.entry is None:
        raise FactorError(f"factor {label}: class-style code exposes no factor_<name> wrapper or class to call")
    spec = {"style": report.style, "entry": report.entry, "factor_name": factor}
    staging = Path(tempfile.mkdtemp(prefix="aistock-factor-src-"))
    try:
        (staging / "factor.py").write_text(source, encoding="utf-8")
        (staging / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
        for path in staging.iterdir():
            path.chmod(0o444)  # the sandbox's uid 65534 reads them through a read-only bind
        run = run_untrusted(
            [sys.executable, "-I", "sandbox_runner.py", "spec.json"],
            inputs={"daily_pv.h5": daily_pv, "factor.py": staging / "factor.py", "spec.json": staging / "spec.json",
                    "sandbox_runner.py": RUNNER},
            outputs=[POSITIONS, VALUES, STATUS], limits=limits, mode=mode,
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    column, series = _validated(run, input_index, factor, label, limits)
    return SandboxResult(column, series, report, run.wall_seconds, run.output_tail)


def run_factor_code(
    source: str,
    service: DataService,
    universe: Universe,
    *,
    start=None,
    end=None,
    name: str | None = None,
    filename: str = "factor.py",
    limits: UntrustedLimits | None = None,
    mode: SandboxMode | None = None,
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
        return run_factor_file(source, daily_pv, index, name=name, filename=filename, limits=limits, mode=mode)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run_factor_codes(
    sources: dict[str, str],
    service: DataService,
    universe: Universe,
    *,
    start=None,
    end=None,
    limits: UntrustedLimits | None = None,
    mode: SandboxMode | None = None,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Run several factors (name → source) on one shared ``daily_pv.h5``; failures are collected, not raised.

    Each factor still runs in a sandbox of its own; up to one per CPU at a time (the parent only waits on them).
    Returns the frame of successful factors (index = the input index, one float32 column each, in the order of
    ``sources``) and ``{name: reason}`` for each factor that was rejected or failed, so one bad factor never
    blocks the rest.
    """
    from concurrent.futures import ThreadPoolExecutor

    from aistock_core.data.h5 import write_daily_pv

    columns: dict[str, pd.Series] = {}
    failures: dict[str, str] = {}
    base = Path(tempfile.mkdtemp(prefix="aistock-factors-"))
    try:
        daily_pv = write_daily_pv(service, universe, base / "daily_pv.h5", start=start, end=end)
        index = _input_index(daily_pv)
        daily_pv.chmod(0o444)

        def run_one(item: tuple[str, str]) -> tuple[str, pd.Series | str]:
            name, source = item
            try:
                result = run_factor_file(source, daily_pv, index, name=name, filename=f"{name}.py", limits=limits,
                                         mode=mode)
                return name, result.values.rename(name)
            except FactorError as exc:
                return name, str(exc)

        with ThreadPoolExecutor(max_workers=max(1, min(len(sources), usable_cpus()))) as pool:
            for name, outcome in pool.map(run_one, sources.items()):
                if isinstance(outcome, str):
                    failures[name] = outcome
                else:
                    columns[name] = outcome
    finally:
        shutil.rmtree(base, ignore_errors=True)
    frame = pd.DataFrame(columns, index=index).astype(np.float32) if columns else pd.DataFrame(index=index)
    return frame, failures


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

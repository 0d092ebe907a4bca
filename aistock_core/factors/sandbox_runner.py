"""Child side of the factor sandbox: run one audited factor file in the work dir, leave its output there.

Started by `aistock_core.factors.sandbox` through `aistock_core.untrusted.run_untrusted` as
``python -I sandbox_runner.py spec.json`` with the work dir (``daily_pv.h5``, ``factor.py``, the spec) as its
current directory, inside the OS sandbox, which sets the resource limits. It imports nothing from this project
(the project is not in the sandbox's view) so its trust base is the standard library plus pandas/numpy/PyTables.

Order matters: (1) import the libraries the factor needs (before the hook, so their own start-up is not
second-guessed), (2) install a ``sys.addaudithook`` hook that refuses writes outside the work dir, process
creation and sockets, (3) run the factor in its rdagent.md §7 style, (4) map its output onto the input index and
leave positions + float32 values as a pickle-free ``.npy`` pair and a status JSON. The hook lives in the
factor's own interpreter, so the factor can undo it: it exists to turn a blocked operation into a readable
message, not to stop anyone (the OS sandbox does that), and the parent re-validates every output file.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

#: Audit events that start processes, load native code or open network endpoints: always blocked.
_BLOCKED_EVENTS = frozenset({
    "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "os.kill", "os.killpg",
    "subprocess.Popen", "pty.spawn", "socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo",
    "ctypes.dlopen", "ctypes.dlsym", "ctypes.call_function", "ctypes.string_at", "ctypes.wstring_at",
    "ctypes.PyObj_FromPtr", "sys.setprofile", "sys.settrace", "sys._current_frames", "urllib.Request",
    "webbrowser.open", "os.putenv", "os.unsetenv", "os.chdir", "os.chroot",
})
#: Audit events that change the filesystem at their first path argument: allowed inside the work dir only.
_PATH_EVENTS = frozenset({
    "os.remove", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.truncate", "os.utime", "os.link",
    "os.symlink", "shutil.rmtree", "shutil.copyfile", "shutil.move", "os.rename", "os.replace",
})
#: Output names; the parent (the factor sandbox module) collects exactly these.
_POSITIONS, _VALUES, _STATUS = "_out_positions.npy", "_out_values.npy", "_status.json"
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


class _Guard:
    """The audit hook: records and refuses, with a message, what a factor has no business doing."""

    def __init__(self, workdir: str) -> None:
        self.workdir = os.path.realpath(workdir)
        self.blocked: list[str] = []

    def _inside(self, path: object) -> bool:
        if isinstance(path, int):
            return False  # writing through a raw descriptor bypasses every path check
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        real = os.path.realpath(os.path.join(self.workdir, os.fspath(path)))  # type: ignore[arg-type]
        return real == self.workdir or real.startswith(self.workdir + os.sep)

    def _refuse(self, what: str) -> None:
        self.blocked.append(what)
        raise PermissionError(f"sandbox: {what} is not allowed in factor code")

    def __call__(self, event: str, args: tuple) -> None:
        if event in _BLOCKED_EVENTS:
            self._refuse(f"{event}{_short(args)}")
        elif event == "open":
            path, mode, flags = [*args, None, None, None][:3]
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & _WRITE_FLAGS)
            if writes and not self._inside(path):
                self._refuse(f"opening {path!r} for writing (outside the sandbox directory)")
        elif event in _PATH_EVENTS and args and not self._inside(args[0]):
            self._refuse(f"{event}({args[0]!r}) outside the sandbox directory")
        elif event in {"os.rename", "os.replace", "os.link", "os.symlink"} and len(args) > 1 \
                and not self._inside(args[1]):
            self._refuse(f"{event} to {args[1]!r} outside the sandbox directory")


def _short(args: tuple) -> str:
    text = repr(args)
    return text if len(text) < 120 else text[:117] + "..."


def _route_hdf5_opens_through_audit(tables_module) -> None:
    """PyTables opens HDF5 files in C, invisible to the ``open`` audit event: announce them ourselves."""
    original = tables_module.file.File.__init__

    def audited_init(self, filename, mode="r", *args, **kwargs):
        sys.audit("open", filename, mode, 0)
        original(self, filename, mode, *args, **kwargs)

    tables_module.file.File.__init__ = audited_init


def _to_series(obj, name: str | None, pd):
    """The factor's output as one named Series, or a sentence saying why it cannot be one."""
    if isinstance(obj, pd.Series):
        return obj.rename(obj.name if obj.name is not None else name)
    if isinstance(obj, pd.DataFrame):
        if obj.shape[1] != 1:
            raise ValueError(f"result has {obj.shape[1]} columns {list(obj.columns)[:5]}; expected exactly one "
                             f"column named after the factor")
        return obj.iloc[:, 0]
    raise ValueError(f"factor returned {type(obj).__name__}, expected a pandas Series or one-column DataFrame")


def _run(spec: dict, guard: _Guard) -> dict:
    import numpy as np
    import pandas as pd
    import tables

    _route_hdf5_opens_through_audit(tables)
    workdir = Path.cwd()
    code_file = str(workdir / "factor.py")
    source = Path(code_file).read_text(encoding="utf-8")
    data = pd.read_hdf(workdir / "daily_pv.h5", key="data")
    result_path = workdir / "result.h5"
    style, entry, name = spec["style"], spec.get("entry"), spec.get("factor_name")
    code = compile(source, code_file, "exec")
    namespace: dict = {"__name__": "__main__" if style == "script" else "rdagent_factor", "__file__": code_file}

    # From here on the hook is live: even reading the factor's result.h5 (PyTables may unpickle object arrays)
    # happens under it.
    sys.addaudithook(guard)
    exec(code, namespace)
    returned = None
    if style == "class":
        target = namespace[entry]
        if isinstance(target, type):
            instance = target()
            method = getattr(instance, "fit_transform", None) or instance.compute
            returned = method(data.copy())
        else:
            returned = target(data.copy())
    elif style == "function":
        returned = namespace[entry]()

    if result_path.exists():
        output, origin = pd.read_hdf(result_path, key="data"), "result.h5"
    elif returned is not None:
        output, origin = returned, f"the return value of {entry}"
    else:
        raise ValueError("factor produced no output: it must write result.h5 (key 'data') or return a Series")
    series = _to_series(output, name, pd)
    column = None if series.name is None else str(series.name)
    if origin == "result.h5" and name and column != name:
        raise ValueError(f"result.h5 column is named {column!r}, expected the factor name {name!r}")
    column = name or column
    if not isinstance(series.index, pd.MultiIndex) or series.index.nlevels != 2:
        raise ValueError(f"{origin} index must be MultiIndex(datetime, instrument), got {type(series.index).__name__}")
    if series.index.has_duplicates:
        raise ValueError(f"{origin} index has duplicate (datetime, instrument) rows")
    index = series.index
    if list(index.names) == ["instrument", "datetime"]:
        index = index.swaplevel()
    positions = data.index.get_indexer(index)
    if (positions < 0).any():
        bad = index[np.flatnonzero(positions < 0)[0]]
        raise ValueError(f"{origin} has {(positions < 0).sum()} row(s) not in the input index, e.g. {bad}")
    try:
        values = series.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{origin} column is not numeric ({series.dtype}): {exc}") from exc
    np.save(workdir / _POSITIONS, positions.astype(np.int64), allow_pickle=False)
    np.save(workdir / _VALUES, values.astype(np.float32), allow_pickle=False)
    return {"ok": True, "column": column, "rows": len(values), "source_dtype": str(series.dtype),
            "origin": origin}


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    guard = _Guard(os.getcwd())
    try:
        status = _run(spec, guard)
    except MemoryError:
        status = {"ok": False, "kind": "memory", "error": "the sandbox's memory limit was exceeded (MemoryError)"}
    except BaseException as exc:  # the factor's failure, whatever it is, is the report
        kind = "blocked" if guard.blocked else "exception"
        status = {"ok": False, "kind": kind, "error": f"{type(exc).__name__}: {exc}",
                  "traceback": traceback.format_exc(limit=8)[-4000:]}
    if guard.blocked:
        status.update(ok=False, kind="blocked",
                      error=status.get("error") if not status.get("ok", True) else "blocked operation attempted")
    status["blocked"] = guard.blocked
    Path(_STATUS).write_text(json.dumps(status, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

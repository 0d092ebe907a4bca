"""Run untrusted code (RD-Agent factor code, a loop's ``model.py``, unpickling research pickles) behind the OS.

Python-level guards (an AST audit, ``sys.addaudithook``, a scrubbed environment) explain rejections but are no
boundary: code in the same interpreter can undo them (DESIGN §12). The boundary here is the kernel:

``run_untrusted(command, inputs=..., outputs=..., limits=...)`` runs ``command`` (an argv whose first element
is an absolute path inside the read-only view, usually ``sys.executable``) with the work directory `WORK`
as its current directory, and returns an `UntrustedRun`: the exit code or signal, whether the wall clock ran
out, a bounded tail of its stdout+stderr, and the *bytes* of each declared output that came back. The caller
validates those bytes (shape, dtype, index, size) and trusts nothing else the child says.

How (mode ``bwrap``, the default, ``AISTOCK_SANDBOX=bwrap``)::

    parent (root) ── bwrap: new mount/PID/net/IPC/UTS namespaces, tmpfs root, read-only /usr + interpreter
                      │      + venv, /sandbox = tmpfs with a size quota, inputs bound read-only into /sandbox,
                      │      /sandbox-out = a parent-owned dir the untrusted side never sees
                      └─ supervisor (root in there; `untrusted_supervisor`): rlimits, then
                          └─ setpriv uid/gid 65534, no capabilities, no_new_privs
                              └─ bwrap: new user namespace (no further ones), PID/net/IPC/UTS namespaces,
                                  fresh /proc, empty environment, /sandbox writable → the command

The untrusted side is host uid 65534 without capabilities; it sees the interpreter, its libraries and /sandbox
only; has no network (a private loopback); sees no process outside its PID namespace (so it can neither read
``/proc/<parent>/environ`` nor signal or ``prlimit`` anything of ours); can write only inside /sandbox, whose
tmpfs quota bounds its disk use; and dies with its PID namespace: when the command ends, or when the parent
kills the outer sandbox on timeout, every process it started goes too (``setsid`` does not help). The
supervisor copies the declared outputs that are regular single-link files within the size bound to /sandbox-out;
the parent reads them from there.

Where this is impossible (no ``bwrap``/``setpriv``, no user namespaces, not started as root) untrusted code
does not run: `SandboxError` says what is missing. ``AISTOCK_SANDBOX=unisolated`` runs the command as a plain
child with rlimits and a scrubbed environment instead: for trusted code on machines without namespaces only.

What this does not give: a seccomp filter (the kernel's whole system-call surface is reachable, so a kernel
exploit escapes), a memory cgroup (RLIMIT_AS per process and the process-count cap bound memory instead), or
CPU isolation from the host's other work.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from aistock_core.config import SandboxMode, get_settings
from aistock_core.errors import SandboxError

SUPERVISOR = Path(__file__).with_name("untrusted_supervisor.py")
#: The uid/gid the untrusted side runs as, on the host and in its user namespace.
NOBODY = 65534
#: Where the untrusted side sees its work directory; it is also its HOME and TMPDIR.
WORK = "/sandbox"
#: The only environment the untrusted side gets. Thread caps keep BLAS from reserving address space per core.
BASE_ENV = {
    "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMEXPR_MAX_THREADS": "1", "HDF5_USE_FILE_LOCKING": "FALSE",
}
_REPORT_BYTES = 64 << 10
_KILL_GRACE = 5.0


@dataclass(frozen=True)
class UntrustedLimits:
    """Resource caps of one run. ``disk_mb`` is the work dir's quota (and the largest file); ``output_mb`` the
    largest output handed back; ``processes`` caps uid 65534's processes and threads."""

    wall_seconds: float = 120.0
    cpu_seconds: int = 120
    memory_mb: int = 2048
    disk_mb: int = 512
    output_mb: int = 256
    processes: int = 256
    tail_bytes: int = 4000

    def __post_init__(self) -> None:
        if min(self.wall_seconds, self.cpu_seconds, self.disk_mb, self.output_mb, self.processes,
               self.tail_bytes) <= 0 or self.memory_mb < 256:
            raise SandboxError(
                f"invalid sandbox limits {self}: every limit must be positive and memory at least 256 MiB "
                "(the interpreter with pandas needs that much address space just to start)"
            )


@dataclass(frozen=True)
class UntrustedRun:
    """What came back. ``outputs`` holds the bytes of each declared output that was a regular file within the
    bound; ``refused`` says why any other declared output did not come back (``missing``, a link, too big)."""

    exit_code: int | None
    signal: int | None
    timed_out: bool
    wall_seconds: float
    output_tail: str
    outputs: dict[str, bytes] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)


def resolve_mode(mode: SandboxMode | None = None) -> SandboxMode:
    return mode or get_settings().sandbox


def run_untrusted(
    command: Sequence[str],
    *,
    inputs: Mapping[str, Path],
    outputs: Sequence[str],
    limits: UntrustedLimits | None = None,
    mode: SandboxMode | None = None,
    env: Mapping[str, str] | None = None,
) -> UntrustedRun:
    """Run ``command`` in ``/sandbox`` holding ``inputs`` (name → host file, read-only) and return ``outputs``.

    Inputs must be regular files readable by others (uid 65534 reads them through a read-only bind).
    ``env`` adds variables to `BASE_ENV` (never the parent's environment). Raises `SandboxError` when the
    sandbox cannot be built (see the module docstring); the command's own failures are in the result.
    """
    limits = limits or UntrustedLimits()
    mode = resolve_mode(mode)
    names = [*inputs, *outputs]
    bad = [n for n in names if not n or "/" in n or n in {".", ".."}]
    if bad:
        raise SandboxError(f"sandbox file names {bad} must be plain names inside the work directory")
    unreadable = [str(p) for p in inputs.values() if not Path(p).is_file() or not Path(p).stat().st_mode & 0o004]
    if unreadable:
        raise SandboxError(f"sandbox inputs {unreadable} must be regular files readable by others "
                           "(chmod o+r): the untrusted side runs as uid 65534")
    if mode == "bwrap":
        require_isolation()
    scratch = Path(tempfile.mkdtemp(prefix="aistock-untrusted-"))
    try:
        out = scratch / "out"
        out.mkdir(mode=0o700)
        if mode == "bwrap":
            argv, work = _bwrap_command(command, inputs, outputs, limits, out, env or {}), scratch
        else:
            work = scratch / "work"
            work.mkdir(mode=0o700)
            for name, src in inputs.items():
                shutil.copyfile(src, work / name)
            spec = _spec(list(command), outputs, limits, work=str(work), out=str(out), isolated=False,
                         env={**BASE_ENV, "HOME": str(work), "TMPDIR": str(work), **(env or {})})
            argv = [sys.executable, "-I", str(SUPERVISOR), json.dumps(spec)]
        return _supervise(argv, work, out, outputs, limits)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _spec(command: list[str], outputs: Sequence[str], limits: UntrustedLimits, *, work: str, out: str,
          isolated: bool, env: dict[str, str]) -> dict:
    """What the supervisor needs. RLIMIT_NPROC counts all of uid 65534's processes, so only where we are it."""
    rlimits = {"RLIMIT_AS": limits.memory_mb << 20, "RLIMIT_CPU": limits.cpu_seconds,
               "RLIMIT_FSIZE": limits.disk_mb << 20, "RLIMIT_CORE": 0}
    if isolated:
        rlimits["RLIMIT_NPROC"] = limits.processes
    return {"argv": command, "work": work, "out": out, "outputs": list(outputs), "isolated": isolated,
            "env": env, "rlimits": rlimits, "max_output_bytes": limits.output_mb << 20}


def _view() -> list[str]:
    """Host directories the sandbox sees read-only: /usr (libc, setpriv, bwrap), the interpreter, the venv."""
    paths = {"/usr", sys.base_prefix, sys.prefix, os.path.dirname(os.path.realpath(sys.executable)),
             os.path.dirname(os.path.dirname(os.path.normpath(sys.executable)))}
    real = sorted({os.path.realpath(p) for p in paths})
    clash = [p for p in real if p.startswith(("/sandbox", "/proc", "/dev")) or p in {"/", "/tmp"}]
    if clash:
        raise SandboxError(f"the interpreter or venv lies at {clash}, where the sandbox mounts its own "
                           "directories; install it elsewhere (e.g. /opt or /usr/local)")
    # A directory already inside another one in the view needs no bind of its own.
    return [p for p in real if not any(p != q and p.startswith(q + os.sep) for q in real)]


def _view_args() -> list[str]:
    """bwrap arguments that build the read-only view; parents get mode 0755 so uid 65534 can walk down."""
    args: list[str] = []
    for top in ("bin", "lib", "lib64", "sbin"):
        host = Path("/") / top
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), str(host)]
        elif host.is_dir():
            args += ["--ro-bind", str(host), str(host)]
    made: set[str] = set()
    for path in _view():
        for parent in reversed(Path(path).parents[:-1]):
            if str(parent) not in made:
                made.add(str(parent))
                args += ["--perms", "0755", "--dir", str(parent)]
        args += ["--ro-bind", path, path]
    return args


_NAMESPACES = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
               "--die-with-parent", "--new-session"]


#: What the supervisor needs of root: mount its /proc, drop to uid 65534 (setpriv also clears the bounding set),
#: kill what is left. Everything else (reading others' files, raw sockets, modules, ptrace, ...) is dropped.
_SUPERVISOR_CAPS = ["--cap-drop", "ALL", *[a for cap in ("CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP",
                                                         "CAP_KILL") for a in ("--cap-add", cap)]]


def _bwrap_command(command: Sequence[str], inputs: Mapping[str, Path], outputs: Sequence[str],
                   limits: UntrustedLimits, out: Path, env: Mapping[str, str]) -> list[str]:
    """The outer sandbox around the supervisor, whose command is setpriv + the inner sandbox."""
    bwrap, setpriv = _tool("bwrap"), _tool("setpriv")
    view = _view_args()
    inner_env = {**BASE_ENV, "HOME": WORK, "TMPDIR": WORK, **env}
    inner = [
        setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--inh-caps=-all",
        "--bounding-set=-all", "--no-new-privs", "--",
        bwrap, "--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY), "--disable-userns", *_NAMESPACES,
        *view, "--bind", WORK, WORK, "--proc", "/proc", "--dev", "/dev",
        # bwrap's root and /dev are tmpfs without a quota: read-only, so /sandbox is the only place to write
        "--remount-ro", "/", "--remount-ro", "/dev", "--chdir", WORK, "--clearenv",
        *[a for k, v in inner_env.items() for a in ("--setenv", k, v)],
        # `.venv/../x` would need the directory in between in the view: resolve the `..` here
        "--", os.path.normpath(command[0]), *command[1:],
    ]
    spec = _spec(inner, outputs, limits, work=WORK, out="/sandbox-out", isolated=True, env={})
    outer = [bwrap, *_NAMESPACES, *_SUPERVISOR_CAPS, *view, "--dev", "/dev", "--perms", "0555", "--dir", "/proc",
             "--perms", "0755", "--dir", "/tmp", "--perms", "0777", "--size", str(limits.disk_mb << 20),
             "--tmpfs", WORK]
    for name, src in inputs.items():
        outer += ["--ro-bind", str(Path(src).resolve()), f"{WORK}/{name}"]
    outer += ["--bind", str(out), "/sandbox-out", "--ro-bind", str(SUPERVISOR), "/supervisor.py",
              "--chdir", WORK,
              os.path.normpath(sys.executable), "-I", "/supervisor.py", json.dumps(spec)]
    return outer


def _tool(name: str) -> str:
    path = shutil.which(name, path="/usr/bin:/bin:/usr/sbin:/sbin")
    if path is None:
        raise SandboxError(_missing(f"{name} is not installed"))
    real = os.path.realpath(path)
    if not real.startswith("/usr/"):
        raise SandboxError(_missing(f"{name} is at {real}, outside /usr (the sandbox's view)"))
    return real


def _missing(what: str) -> str:
    return (f"cannot isolate untrusted code: {what}. Install bubblewrap and util-linux "
            "(`apt-get install bubblewrap util-linux`), run as root with unprivileged user namespaces enabled "
            "(sysctl kernel.unprivileged_userns_clone=1), or, for trusted code only, set "
            "AISTOCK_SANDBOX=unisolated")


@lru_cache(maxsize=1)
def _isolation_problem() -> str | None:
    """Why the OS sandbox cannot work here, found by building one around ``/usr/bin/true``; None when it can."""
    if not sys.platform.startswith("linux"):
        return f"the OS sandbox needs Linux namespaces; this is {sys.platform}"
    if os.geteuid() != 0:
        return "the sandbox must be started as root (it drops the untrusted side to uid 65534 itself)"
    try:
        _tool("bwrap"), _tool("setpriv"), _tool("mount")
    except SandboxError as exc:
        return str(exc)
    scratch = Path(tempfile.mkdtemp(prefix="aistock-probe-"))
    try:
        out = scratch / "out"
        out.mkdir(mode=0o700)
        argv = _bwrap_command(["/usr/bin/true"], {}, [], UntrustedLimits(), out, {})
        run = _supervise(argv, scratch, out, [], UntrustedLimits(wall_seconds=30))
    except SandboxError as exc:
        return str(exc)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if run.exit_code != 0:
        return f"a trial sandbox failed (exit {run.exit_code}): {run.output_tail.strip()[-500:]}"
    return None


def require_isolation() -> None:
    """`SandboxError` naming what is missing unless the OS sandbox works on this machine (checked once)."""
    problem = _isolation_problem()
    if problem is not None:
        raise SandboxError(problem if problem.startswith("cannot isolate") else _missing(problem))


def isolation_available() -> bool:
    return _isolation_problem() is None


class _Reader(threading.Thread):
    """Drains a pipe without ever holding more than ``keep`` bytes: the head (report) or the tail (output)."""

    def __init__(self, pipe, keep: int, tail: bool) -> None:
        super().__init__(daemon=True)
        self.pipe, self.keep, self.tail, self.data = pipe, keep, tail, b""

    def run(self) -> None:
        while chunk := self.pipe.read1(1 << 16):
            self.data = (self.data + chunk)[-self.keep:] if self.tail else (self.data + chunk)[:self.keep]


def _supervise(argv: list[str], work: Path, out: Path, outputs: Sequence[str],
               limits: UntrustedLimits) -> UntrustedRun:
    started = time.perf_counter()
    try:
        proc = subprocess.Popen(argv, cwd=work, env={}, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
    except OSError as exc:
        raise SandboxError(f"cannot start the sandbox ({argv[0]}): {exc}") from exc
    report, tail = _Reader(proc.stdout, _REPORT_BYTES, tail=False), _Reader(proc.stderr, limits.tail_bytes, True)
    report.start()
    tail.start()
    timed_out = False
    try:
        proc.wait(timeout=limits.wall_seconds)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)  # the outer bwrap: its PID namespace and everything in it die with it
        proc.wait()
    report.join(_KILL_GRACE)
    tail.join(_KILL_GRACE)
    elapsed = time.perf_counter() - started
    text = tail.data.decode("utf-8", "replace")
    if timed_out:
        return UntrustedRun(None, None, True, elapsed, text)
    try:
        status = json.loads(report.data)
    except ValueError:
        raise SandboxError(f"the sandbox supervisor exited with code {proc.returncode} without a report: "
                           f"{text.strip()[-1000:]}") from None
    collected = {name: _read_back(out / name, limits.output_mb << 20) for name in outputs
                 if name not in status["refused"]}
    return UntrustedRun(status["exit_code"], status["signal"], False, elapsed, text, collected,
                        dict(status["refused"]))


def _read_back(path: Path, max_bytes: int) -> bytes:
    """An output the supervisor copied: a regular file of ours, still within the bound."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise SandboxError(f"sandbox output {path.name} is over the bound of {max_bytes} bytes")
    return data

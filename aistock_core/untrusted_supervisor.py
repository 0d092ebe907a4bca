"""Trusted middle of an untrusted run: start the command under limits, wait, kill what is left, hand back files.

Started by `aistock_core.untrusted` as ``python -I untrusted_supervisor.py <spec-json>``; standard library only
(it must not import the project, which is not in the sandbox's view). In the isolated mode it runs as root
inside the outer bubblewrap sandbox (its own mount, PID, network, IPC and UTS namespaces) and

1. mounts a fresh ``/proc`` (the outer sandbox has none, so the inner bubblewrap may mount its own);
2. starts the command (``setpriv`` to uid 65534 + inner bubblewrap, built by the parent) with rlimits set here,
   before any untrusted code runs, hard = soft so the child cannot raise them; its stdout and stderr both go to
   this process's stderr, never to the report channel (this process's stdout);
3. after the command ends, SIGKILLs every process left in the namespace (it is root there; the untrusted side
   is uid 65534 and can neither signal nor trace it);
4. copies the declared outputs that are regular, single-link files within the size bound from the work dir to
   the out dir (which the untrusted side never sees), then prints one JSON report.

Nothing the untrusted side wrote is interpreted here; the parent validates the copied files.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import stat
import subprocess
import sys
import time

_CHUNK = 1 << 20


def _limit(spec: dict) -> None:
    """Runs in the child between fork and exec: caps it cannot raise (no CAP_SYS_RESOURCE once it drops root).

    The CPU hard limit sits 2 s above the soft one, so the soft limit's SIGXCPU names the cause before SIGKILL.
    """
    for name, value in spec["rlimits"].items():
        resource.setrlimit(getattr(resource, name), (value, value + 2 if name == "RLIMIT_CPU" else value))


def _kill_everything_else() -> None:
    """SIGKILL every process this root can see but itself and pid 1 (the namespace's init), until none is left."""
    me = os.getpid()
    for _ in range(100):
        others = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, me)]
        if not others:
            return
        for pid in others:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)


def _collect(name: str, work: str, out: str, max_bytes: int) -> str | None:
    """Copy one output; the reason it was refused, or None when copied."""
    try:
        fd = os.open(os.path.join(work, name), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"cannot be opened ({exc.strerror}; a symlink or special file?)"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return "not a regular file"
        if info.st_nlink != 1:
            return f"has {info.st_nlink} hard links"
        if info.st_size > max_bytes:
            return f"is {info.st_size} bytes, over the bound of {max_bytes}"
        dest = os.open(os.path.join(out, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            copied = 0
            while chunk := os.read(fd, _CHUNK):
                copied += len(chunk)
                if copied > max_bytes:
                    return f"grew past the bound of {max_bytes} bytes while being copied"
                os.write(dest, chunk)
        finally:
            os.close(dest)
        return None
    finally:
        os.close(fd)


def main() -> int:
    spec = json.loads(sys.argv[1])
    if spec["isolated"]:
        subprocess.run(["/usr/bin/mount", "-t", "proc", "proc", "/proc"], check=True)
    started = time.monotonic()
    proc = subprocess.Popen(
        spec["argv"], cwd=spec["work"], env=spec["env"], stdin=subprocess.DEVNULL, stdout=2, stderr=2,
        preexec_fn=lambda: _limit(spec), close_fds=True, start_new_session=True,
    )
    code = proc.wait()
    if spec["isolated"]:
        _kill_everything_else()
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    refused = {}
    for name in spec["outputs"]:
        reason = _collect(name, spec["work"], spec["out"], spec["max_output_bytes"])
        if reason is not None:
            refused[name] = reason
    # A signal shows as a negative code here, or as 128 + signal from bubblewrap, which passes its child's on.
    died_of = -code if code < 0 else code - 128 if spec["isolated"] and code > 128 else None
    report = {"exit_code": code, "signal": died_of, "seconds": time.monotonic() - started, "refused": refused}
    os.write(1, json.dumps(report).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())

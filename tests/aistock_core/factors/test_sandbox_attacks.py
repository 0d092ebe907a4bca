"""Hostile factor code against the OS sandbox (issue 16), through the paths production uses.

Each attack is a ``factor.py`` that tries one escape and then produces a valid factor, so an attack that
worked silently would look like a clean run. The static audit is switched off for most of them (``no_audit``):
it is a filter, not the boundary, and these tests stand for the bypass nobody has found yet. Every test
checks the attack's effect on the host, not the sandbox's word: a canary directory (checksum before and
after), a secret in the parent's environment and in a host file (absent from every output), a victim process
of ours (alive, limits unchanged), a listening socket (no connection), and no process left behind.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from aistock_core.data.service import DataService
from aistock_core.data.synthetic import SyntheticMarket
from aistock_core.errors import FactorError
from aistock_core.factors import sandbox
from aistock_core.factors.audit import audit_source
from aistock_core.factors.sandbox import SandboxLimits, run_factor_code
from aistock_core.untrusted import UntrustedLimits, run_untrusted

pytestmark = pytest.mark.usefixtures("os_sandbox")
START, END = "2023-01-03", "2023-02-28"
LIMITS = SandboxLimits(wall_seconds=30, cpu_seconds=20, memory_mb=1536, disk_mb=64)
#: Every attack starts by switching off the runner's in-process audit hook (any code in the interpreter can),
#: so what stops it is the OS, not the hook's friendly refusal.
PRELUDE = textwrap.dedent('''
    import gc, os, sys
    for o in gc.get_objects():
        if type(o).__name__ == "_Guard":
            type(o).__call__ = lambda self, event, args: None
            o.blocked.clear()

    def attempt(what, fn):
        try:
            fn()
            print("ATTEMPT-SUCCEEDED", what, file=sys.stderr)
        except BaseException as exc:
            print("attempt failed:", what, type(exc).__name__, exc, file=sys.stderr)
''')
RESULT = textwrap.dedent('''
    import pandas as pd
    pd.read_hdf("daily_pv.h5", key="data")[["close"]].to_hdf("result.h5", key="data")
''')


class Host:
    """What an attack might touch on the host, and the checks that it did not."""

    def __init__(self, root: Path, monkeypatch) -> None:
        self.token = uuid.uuid4().hex
        self.secret = f"canary-secret-{uuid.uuid4().hex}"
        monkeypatch.setenv("AISTOCK_CANARY_SECRET", self.secret)
        self.canary = root / "canary"
        self.canary.mkdir()
        (self.canary / "secret.txt").write_text(self.secret)
        (self.canary / "data.bin").write_bytes(os.urandom(256))
        self.canary.chmod(0o777)  # writable to anyone: only the sandbox's view can protect it
        self.before = self.digest()
        # /proc/<pid>/environ shows the environment a process was started with: the victim's holds the secret
        self.victim = subprocess.Popen(["sleep", "120"], env={"AISTOCK_CANARY_SECRET": self.secret})
        self.victim_limits = Path(f"/proc/{self.victim.pid}/limits").read_text()
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
                self.connections += 1
                conn.close()
            except OSError:
                continue

    def digest(self) -> str:
        h = hashlib.sha256()
        for path in sorted(self.canary.rglob("*")):
            h.update(str(path).encode())
            h.update(path.read_bytes() if path.is_file() else b"dir")
        return h.hexdigest()

    def fields(self) -> dict:
        return {"canary": str(self.canary), "token": self.token, "victim": self.victim.pid, "port": self.port,
                "parent": os.getpid()}

    def assert_untouched(self, *outputs: str) -> None:
        assert self.digest() == self.before, "the canary directory changed"
        assert not Path(f"/tmp/{self.token}").exists() and not Path(f"/dev/shm/{self.token}").exists()
        assert self.victim.poll() is None, "the victim process was killed"
        assert Path(f"/proc/{self.victim.pid}/limits").read_text() == self.victim_limits
        assert self.connections == 0, "the sandbox reached a host socket"
        for text in outputs:
            assert self.secret not in text, "a secret reached the output"
        assert not _processes_with(self.token), "a process outlived the sandbox"

    def close(self) -> None:
        self._stop.set()
        self._thread.join(1)
        self.listener.close()
        self.victim.kill()
        self.victim.wait()


def _processes_with(token: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if token.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.fixture
def host(tmp_path, monkeypatch):
    h = Host(tmp_path, monkeypatch)
    yield h
    h.close()


@pytest.fixture
def no_audit(monkeypatch):
    """The audit as a report only: the run goes on whatever it finds (an audit bypass nobody knows yet)."""
    monkeypatch.setattr(sandbox, "require_clean", audit_source)


@pytest.fixture(scope="module")
def service() -> DataService:
    return DataService(SyntheticMarket(seed=3, n_instruments=4, start="2022-10-03", end="2023-03-31"))


def _attack(body: str, host: Host, service, prelude: bool = True, **limits) -> tuple[str, str]:
    """Run the attack then a valid factor; (outcome text, output tail), whichever way it ended."""
    source = (PRELUDE if prelude else "") + textwrap.dedent(body).format(**host.fields()) + RESULT
    try:
        result = run_factor_code(source, service, "all", start=START, end=END, name="close",
                                 limits=SandboxLimits(**{**LIMITS.__dict__, **limits}))
    except FactorError as exc:
        return f"failed: {exc}", str(exc)
    return "ok", result.stderr_tail


ATTACKS = {
    "guard switched off from inside, then commands and writes": '''
        attempt("os.system", lambda: os.system("echo pwned > {canary}/pwned; touch /tmp/{token}"))
        attempt("open", lambda: open("{canary}/pwned2", "w").write("x"))
    ''',
    "reads the parent's environment and files outside the view": '''
        import glob
        for p in ["/proc/{parent}/environ", "/proc/{victim}/environ", "/proc/1/environ", "{canary}/secret.txt",
                  "/etc/shadow", "/root/.bash_history", *glob.glob("/proc/*/environ")]:
            attempt("read " + p, lambda p=p: print(open(p, "rb").read(), file=sys.stderr))
        print(dict(os.environ), file=sys.stderr)
    ''',
    "native writers, dir_fd, hard links, shared memory": '''
        import sqlite3, _posixshmem
        import pandas as pd
        attempt("sqlite", lambda: sqlite3.connect("{canary}/x.db").execute("create table t(a int)"))
        attempt("parquet", lambda: pd.DataFrame({{"a": [1]}}).to_parquet("{canary}/x.parquet"))
        attempt("hdf5", lambda: pd.HDFStore("{canary}/x.h5", mode="w").close())
        attempt("dir_fd", lambda: os.open("dirfd.txt", os.O_WRONLY | os.O_CREAT,
                                           dir_fd=os.open("{canary}", os.O_RDONLY)))
        attempt("hard link in", lambda: os.link("{canary}/secret.txt", "stolen"))
        attempt("hard link out", lambda: os.link("daily_pv.h5", "{canary}/linked"))
        attempt("input rewrite", lambda: open("daily_pv.h5", "r+b").write(b"x"))
        attempt("shm", lambda: _posixshmem.shm_open("/{token}", os.O_CREAT | os.O_RDWR, 0o600))
    ''',
    "signals, pidfd and prlimit on processes of ours": '''
        import resource, signal
        attempt("kill", lambda: os.kill({victim}, signal.SIGKILL))
        attempt("kill parent", lambda: os.kill({parent}, signal.SIGSTOP))
        attempt("pidfd", lambda: os.pidfd_open({victim}))
        attempt("prlimit", lambda: resource.prlimit({victim}, resource.RLIMIT_NOFILE, (1, 1)))
        attempt("prlimit parent", lambda: resource.prlimit({parent}, resource.RLIMIT_NOFILE, (1, 1)))
    ''',
    "network sockets to the host's services": '''
        import socket
        for port in ({port}, 5432, 6379, 5672):
            attempt(f"connect {{port}}", lambda port=port: socket.create_connection(("127.0.0.1", port), 1))
        attempt("dns", lambda: socket.getaddrinfo("pypi.org", 443))
    ''',
    "privilege: setuid, new user namespace, chroot": '''
        import ctypes
        attempt("setuid 0", lambda: os.setuid(0))
        attempt("unshare user", lambda: os.unshare(os.CLONE_NEWUSER))
        attempt("chroot", lambda: os.chroot("/"))
        attempt("touch via /proc/self/root", lambda: open("/proc/self/root/{canary}/x", "w"))
    ''',
}


@pytest.mark.parametrize("body", ATTACKS.values(), ids=ATTACKS.keys())
def test_attack_changes_nothing_on_the_host(body, host, service, no_audit):
    outcome, tail = _attack(body, host, service)
    host.assert_untouched(outcome, tail)
    assert outcome == "ok", outcome  # the attack did nothing, and the factor itself still ran


def test_processes_started_in_their_own_session_die_with_the_sandbox(host, service, no_audit):
    """A grandchild in a new session holding the output pipes: the run still ends at once, and so does it."""
    body = '''
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv("/usr/bin/sleep", ["sleep", "30", "{token}"])
            os._exit(0)
        import time
        time.sleep(0.5)
    '''
    started = time.perf_counter()
    outcome, tail = _attack(body, host, service)
    assert outcome == "ok" and time.perf_counter() - started < 15
    host.assert_untouched(outcome, tail)


def test_timeout_kills_the_whole_tree(host, service, no_audit):
    body = '''
        for _ in range(3):
            if os.fork() == 0:
                os.setsid()
                os.execv("/usr/bin/sleep", ["sleep", "60", "{token}"])
        import time
        time.sleep(60)
    '''
    outcome, tail = _attack(body, host, service, wall_seconds=4)
    assert "timed out after 4s" in outcome
    host.assert_untouched(outcome, tail)


def test_fork_bomb_is_capped_and_cleaned_up(host, service, no_audit):
    body = '''
        children = 0
        try:
            while children < 5000:
                if os.fork() == 0:
                    os.execv("/usr/bin/sleep", ["sleep", "60", "{token}"])
                children += 1
        except OSError as exc:
            print("fork stopped after", children, exc, file=sys.stderr)
    '''
    outcome, tail = _attack(body, host, service, processes=64)
    assert "fork stopped after" in tail and "Resource temporarily unavailable" in tail
    host.assert_untouched(outcome, tail)


def test_disk_quota_and_output_flood_are_bounded(host, service, no_audit):
    body = '''
        sys.stdout.write("y" * (50 << 20))
        sys.stdout.flush()
        def fill():
            with open("fill.bin", "wb") as fh:
                for _ in range(1024):
                    fh.write(b"x" * (1 << 20))
        attempt("fill the work dir", fill)
        os.remove("fill.bin")
    '''
    outcome, tail = _attack(body, host, service, disk_mb=64)
    assert outcome == "ok"
    assert "attempt failed: fill the work dir" in tail and len(tail) <= LIMITS.tail_bytes
    host.assert_untouched(outcome, tail)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ('open("_status.json", "w").write(\'{{"ok": true, "column": "close"}}\')\nos._exit(0)\n', "did not come back"),
        ('import numpy as np\nnp.save("_out_positions.npy", np.array([10**9], dtype=np.int64))\n'
         'np.save("_out_values.npy", np.array([1.0], dtype=np.float32))\n'
         'open("_status.json", "w").write(\'{{"ok": true}}\')\nos._exit(0)\n', "inconsistent with the input index"),
        ('import numpy as np\nnp.save("_out_positions.npy", np.array([0, 0], dtype=np.int64))\n'
         'np.save("_out_values.npy", np.array([1.0, 2.0], dtype=np.float32))\n'
         'open("_status.json", "w").write(\'{{"ok": true}}\')\nos._exit(0)\n', "inconsistent with the input index"),
        ('import numpy as np\nnp.save("_out_positions.npy", np.array([0], dtype=object), allow_pickle=True)\n'
         'np.save("_out_values.npy", np.array([1.0], dtype=np.float32))\n'
         'open("_status.json", "w").write(\'{{"ok": true}}\')\nos._exit(0)\n', "not a plain .npy"),
        ('import numpy as np\nnp.save("_out_positions.npy", np.array([0.0]))\n'
         'np.save("_out_values.npy", np.array([1.0], dtype=np.float32))\n'
         'open("_status.json", "w").write(\'{{"ok": true}}\')\nos._exit(0)\n', "1-D int64"),
        ('os.symlink("/etc/passwd", "_out_positions.npy")\nimport numpy as np\n'
         'np.save("_out_values.npy", np.array([1.0], dtype=np.float32))\n'
         'open("_status.json", "w").write(\'{{"ok": true}}\')\nos._exit(0)\n', "symlink or special file"),
        ('import numpy as np\nnp.save("x.npy", np.array([0], dtype=np.int64))\nos.link("x.npy", "_out_positions.npy")\n'
         'np.save("_out_values.npy", np.array([1.0], dtype=np.float32))\n'
         'open("_status.json", "w").write(\'{{"ok": true}}\')\nos._exit(0)\n', "hard links"),
        ('open("_status.json", "w").write(\'{{"ok": true}}\')\nos._exit(3)\n', "exited with code 3|code 3"),
    ],
    ids=["status-only", "out-of-range", "duplicates", "pickled", "wrong-dtype", "symlink", "hardlink", "exit-3"],
)
def test_forged_status_never_becomes_success(body, match, host, service, no_audit):
    outcome, tail = _attack(body, host, service)
    assert outcome.startswith("failed") and any(m in outcome for m in match.split("|")), outcome
    host.assert_untouched(outcome, tail)


def test_audit_bypass_that_passes_the_audit_is_stopped_by_the_os(host, service):
    """No ``no_audit`` here: a real static bypass (the audit accepts it), stopped at run time."""
    body = '''
        import operator
        import pandas as pd
        mod = operator.attrgetter("o" + "s")(pd.io.common)
        try:
            mod.system("touch {canary}/pwned /tmp/{token}")
        except PermissionError:
            pass
    '''
    assert audit_source(textwrap.dedent(body).format(**host.fields()) + RESULT).accepted
    outcome, tail = _attack(body, host, service, prelude=False)
    assert "blocked: os.system" in outcome  # the hook's friendly message; the OS would have stopped it anyway
    host.assert_untouched(outcome, tail)


def test_malicious_pickle_is_harmless_through_run_untrusted(host, tmp_path):
    """The models' use: unpickle a research pickle behind the same boundary."""

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {host.canary}/pwned /tmp/{host.token}; cat /proc/{os.getpid()}/environ",)

    pkl = tmp_path / "model.pkl"
    pkl.write_bytes(pickle.dumps(Payload()))
    pkl.chmod(0o444)
    code = "import pickle, numpy as np\nprint(pickle.load(open('model.pkl', 'rb')))\nnp.save('out.npy', np.ones(3))\n"
    run = run_untrusted([sys.executable, "-I", "-c", code], inputs={"model.pkl": pkl}, outputs=["out.npy"],
                        limits=UntrustedLimits(wall_seconds=30))
    assert run.exit_code == 0 and not run.timed_out
    np.testing.assert_array_equal(np.load(io.BytesIO(run.outputs["out.npy"])), np.ones(3))
    host.assert_untouched(run.output_tail)


#: One factor file carrying several attacks at once, for the CLI and the Dagster asset.
COMBINED = (ATTACKS["guard switched off from inside, then commands and writes"]
            + ATTACKS["reads the parent's environment and files outside the view"]
            + ATTACKS["native writers, dir_fd, hard links, shared memory"] + '''
        if os.fork() == 0:
            os.setsid()
            os.execv("/usr/bin/sleep", ["sleep", "30", "{token}"])
    ''')


def _factor_file(folder: Path, name: str, host: Host) -> None:
    folder.mkdir(exist_ok=True)
    body = PRELUDE + textwrap.dedent(COMBINED).format(**host.fields()) + textwrap.dedent(f'''
        import pandas as pd
        df = pd.read_hdf("daily_pv.h5", key="data")
        df[["close"]].rename(columns={{"close": "{name}"}}).to_hdf("result.h5", key="data")
    ''')
    (folder / f"{name}.py").write_text(body)


def test_attack_through_factors_check_cli(host, no_audit, aistock_home, monkeypatch, tmp_path):
    """``aistock factors check --reference code``, as an operator runs it on RD-Agent's output."""
    from typer.testing import CliRunner

    from aistock_core.config import get_settings
    from aistock_pipelines.cli.main import app

    for key, value in {"DATA_SOURCE": "synthetic", "SYNTHETIC_INSTRUMENTS": "4", "SYNTHETIC_START": "2022-10-10",
                       "SYNTHETIC_END": "2023-04-28"}.items():
        monkeypatch.setenv(f"AISTOCK_{key}", value)
    get_settings.cache_clear()
    _factor_file(tmp_path / "code", "pwn", host)
    result = CliRunner().invoke(app, ["factors", "check", "--factors", "pwn=$close", "--reference", "code",
                                      "--code-dir", str(tmp_path / "code"), "--start", "2023-03-01",
                                      "--end", "2023-03-10", "--no-record"])
    assert result.exit_code in (0, 1), result.output  # judged like any factor; never a sandbox breakdown (2)
    assert "Factor alignment vs code" in result.output
    host.assert_untouched(result.output)


def test_attack_through_the_dagster_asset(host, no_audit, aistock_home, tmp_path):
    """The code-checked factor asset and its blocking check, materialized by Dagster."""
    import dagster as dg

    from aistock_pipelines.defs.factors.assets import code_factor_set
    from aistock_pipelines.defs.factors.checks import build_factor_set
    from aistock_pipelines.resources import DatabaseResource, DataServiceResource, StoreResource

    _factor_file(tmp_path / "code", "pwn", host)
    spec = code_factor_set("rd_attack", str(tmp_path / "code"), {"pwn": "$close"}, lookback=12)
    resources = {"data": DataServiceResource(data_source="synthetic", synthetic_seed=11, synthetic_instruments=4),
                 "store": StoreResource(root=str(tmp_path / "store")),
                 "database": DatabaseResource(url=f"sqlite:///{tmp_path / 'app.db'}")}
    result = dg.materialize(list(build_factor_set(spec)), partition_key="2023-03-15", resources=resources,
                            raise_on_error=False)
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == 1  # the check ran and judged the factor
    host.assert_untouched(repr(evaluations), repr(result.all_events))

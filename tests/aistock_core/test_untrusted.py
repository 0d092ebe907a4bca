"""`run_untrusted`: refusing to run without isolation, the trusted-only opt-in, and bounds on what comes back."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

from aistock_core import untrusted
from aistock_core.config import get_settings
from aistock_core.errors import ConfigError, SandboxError
from aistock_core.untrusted import UntrustedLimits, run_untrusted

WRITE = [sys.executable, "-I", "-c", "import os; open('out.txt', 'w').write(repr(sorted(os.environ)))"]


@pytest.fixture
def fresh_probe():
    untrusted._isolation_problem.cache_clear()
    yield
    untrusted._isolation_problem.cache_clear()


def test_no_bubblewrap_means_no_run_and_says_what_is_missing(fresh_probe, monkeypatch, tmp_path):
    monkeypatch.setattr(untrusted.shutil, "which", lambda name, path=None: None)
    marker = tmp_path / "ran"
    with pytest.raises(SandboxError, match=r"bwrap is not installed.*apt-get install bubblewrap.*"
                                           r"AISTOCK_SANDBOX=unisolated"):
        run_untrusted([sys.executable, "-c", f"open({str(marker)!r}, 'w')"], inputs={}, outputs=[], mode="bwrap")
    assert not marker.exists()


def test_not_root_means_no_run(fresh_probe, monkeypatch):
    monkeypatch.setattr(untrusted.os, "geteuid", lambda: 1000)
    with pytest.raises(SandboxError, match=r"must be started as root"):
        run_untrusted(WRITE, inputs={}, outputs=["out.txt"], mode="bwrap")


def test_unisolated_is_an_explicit_setting_and_still_scrubs_the_environment(aistock_home, monkeypatch):
    monkeypatch.setenv("AISTOCK_SANDBOX", "unisolated")
    monkeypatch.setenv("AISTOCK_CANARY_SECRET", "hunter2")
    get_settings.cache_clear()
    run = run_untrusted(WRITE, inputs={}, outputs=["out.txt"])
    names = run.outputs["out.txt"].decode()
    assert run.exit_code == 0 and "AISTOCK_CANARY_SECRET" not in names and "'HOME'" in names


def test_unknown_sandbox_setting_is_a_config_error(aistock_home, monkeypatch):
    monkeypatch.setenv("AISTOCK_SANDBOX", "none")
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match="AISTOCK_SANDBOX"):
        get_settings()


@pytest.mark.parametrize("name", ["../x", "a/b", "", ".."])
def test_file_names_stay_inside_the_work_dir(name):
    with pytest.raises(SandboxError, match="plain names"):
        run_untrusted(WRITE, inputs={}, outputs=[name], mode="unisolated")


@pytest.mark.usefixtures("os_sandbox")
def test_outputs_over_the_bound_do_not_come_back():
    code = "open('big', 'wb').write(b'x' * (3 << 20)); open('small', 'wb').write(b'ok')"
    run = run_untrusted([sys.executable, "-I", "-c", code], inputs={}, outputs=["big", "small", "absent"],
                        limits=UntrustedLimits(output_mb=2))
    assert run.outputs == {"small": b"ok"}
    assert "over the bound" in run.refused["big"] and run.refused["absent"] == "missing"


@pytest.mark.usefixtures("os_sandbox")
def test_the_sandbox_sees_only_its_view():
    # The interpreter and the venv are bound read-only at their own paths: a checkout under /tmp or /home puts
    # that one path in the view, and nothing else of the folder above it.
    bound = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.executable)}
    ancestors = {str(a) for path in bound for a in path.parents}
    code = ("import json, os, sys; top = os.listdir('/'); "
            "json.dump([os.getuid(), top, os.listdir('/proc'), {d: os.listdir('/' + d) for d in sys.argv[1:] "
            "if d in top}], open('out', 'w'))")
    hidden = ["etc", "home", "tmp", "var", "sandbox-out"]
    run = run_untrusted([sys.executable, "-I", "-c", code, *hidden], inputs={}, outputs=["out"])
    uid, top, procs, listed = json.loads(run.outputs["out"])
    assert uid == 65534
    for name in set(hidden) & set(top):
        assert f"/{name}" in ancestors, f"/{name} is in the view but holds nothing the sandbox needs"
        for entry in listed[name]:  # only the next step towards a bound path
            assert f"/{name}/{entry}" in ancestors or Path(f"/{name}/{entry}") in bound, (name, entry)
    assert sorted(int(p) for p in procs if p.isdigit()) == [1, 2]  # bwrap's init and the command: nothing else


@pytest.mark.usefixtures("os_sandbox")
def test_only_the_work_dir_is_writable():
    """bwrap's own root and /dev are tmpfs without a quota: a write there would dodge the work dir's quota."""
    code = textwrap.dedent('''
        import json
        wrote = []
        for path in ["/x", "/dev/shm/x", "/dev/x", "/usr/x", "/root/x", "/sandbox/x"]:
            try:
                open(path, "wb").write(b"1")
                wrote.append(path)
            except OSError:
                pass
        json.dump(wrote, open("out", "w"))
    ''')
    run = run_untrusted([sys.executable, "-I", "-c", code], inputs={}, outputs=["out"])
    assert json.loads(run.outputs["out"]) == ["/sandbox/x"]


def test_inputs_must_be_readable_by_the_sandbox_user(tmp_path):
    secret = tmp_path / "private.txt"
    secret.write_text("x")
    secret.chmod(0o600)
    with pytest.raises(SandboxError, match=r"private.txt.*readable by others"):
        run_untrusted(WRITE, inputs={"private.txt": secret}, outputs=[], mode="unisolated")


@pytest.mark.usefixtures("os_sandbox")
def test_an_interpreter_path_with_dotdot_still_runs():
    """``benchmarks/../.venv/bin/python`` (a script run from a subdirectory) names a path the view lacks."""
    python = "/etc/.." + os.path.abspath(sys.executable)  # /etc is not in the sandbox's view
    run = run_untrusted([python, "-I", "-c", "open('out', 'w').write('ok')"], inputs={}, outputs=["out"])
    assert run.outputs == {"out": b"ok"}

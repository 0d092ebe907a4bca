"""The production deployment on loopback: private PostgreSQL databases, the processes of ``deploy/Procfile``, and
a GraphQL client for the webserver.

Everything a test starts is stopped by the fixture (process group SIGTERM, then SIGKILL), and its databases are
dropped. Services that are missing fail the test under ``CI=true`` and skip it locally, with the reason.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, make_url, text

ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("AISTOCK_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
STARTUP_LIMIT_S = 120


def require_service(reason: str | None) -> None:
    """Skip (locally) or fail (``CI=true``) when ``reason`` says a service is missing."""
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


def port_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def procfile() -> dict[str, str]:
    """The process lines of ``deploy/Procfile`` by name."""
    lines = (ROOT / "deploy" / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip() and not line.startswith("#"))


def expand(command: str, env: dict[str, str]) -> list[str]:
    """A Procfile line as argv, ``$NAME`` taken from ``env`` (a missing one is an error, not an empty string)."""
    def value(match: re.Match) -> str:
        name = match.group(1)
        if name not in env:
            raise KeyError(f"deploy/Procfile needs ${name}")
        return env[name]

    return shlex.split(re.sub(r"\$([A-Z_][A-Z0-9_]*)", value, command))


LAUNCH = """
mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
  }
}"""
STATUS = "query($id: ID!) { runOrError(runId: $id) { __typename ... on Run { status } } }"
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


class Deployment:
    """Starts Procfile processes with one environment; ``stop()`` ends every one of them."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.procs: dict[str, subprocess.Popen] = {}
        self.graphql: GraphQL | None = None

    def start(self, name: str, command: str | None = None, **extra_env: str) -> subprocess.Popen:
        argv = expand(command or procfile()[name.split("#")[0]], {**self.env, **extra_env})
        log = (self.logs / f"{name.replace('#', '_')}.log").open("w")
        proc = subprocess.Popen(argv, cwd=ROOT, env={**self.env, **extra_env}, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        path = self.logs / f"{name.replace('#', '_')}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                pytest.fail(f"{name} exited with {proc.returncode}:\n{self.log(name)[-3000:]}")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        for proc in self.procs.values():  # children that outlived their leader (run workers, pool processes)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)


    def wait_for(self, what: str, probe: Callable[[], object], limit_s: float = STARTUP_LIMIT_S):
        return wait_for(what, probe, self, limit_s)

    def wait_for_log(self, name: str, needle: str, limit_s: float = STARTUP_LIMIT_S) -> None:
        self.wait_for(f"{needle!r} in the log of {name}", lambda: needle in self.log(name), limit_s)

    def start_core(self) -> GraphQL:
        """Start code server, daemon and webserver; return a GraphQL client once the code location has loaded."""
        self.start("code")
        grpc_port = int(self.env["DAGSTER_GRPC_PORT"])
        wait_for("the gRPC code server", lambda: port_answers("127.0.0.1", grpc_port), self)
        self.start("daemon")
        self.start("webserver")
        self.graphql = GraphQL(int(self.env["DAGSTER_WEBSERVER_PORT"]))
        wait_for("the code location in the webserver", self._location_loaded, self)
        return self.graphql

    def _location_loaded(self) -> bool:
        data = self.graphql("{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
                            "locationOrLoadError { __typename } } } } }")
        entries = data["workspaceOrError"]["locationEntries"]
        return any(e["name"] == "aistock" and e["loadStatus"] == "LOADED"
                   and e["locationOrLoadError"]["__typename"] == "RepositoryLocation" for e in entries)

    def launch_run(self, job: str, run_config: dict, tags: dict[str, str] | None = None) -> dict:
        """``launchRun`` through the webserver's GraphQL: the run is queued for the daemon to start."""
        params = {"selector": {"repositoryLocationName": "aistock", "repositoryName": "__repository__",
                               "jobName": job},
                  "runConfigData": run_config,
                  "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]}}
        result = self.graphql(LAUNCH, {"params": params})["launchRun"]
        assert result["__typename"] == "LaunchRunSuccess", result
        return result["run"]

    def wait_finished(self, run_id: str, limit_s: float = 240) -> str:
        def status() -> str | None:
            value = self.graphql(STATUS, {"id": run_id})["runOrError"]["status"]
            return value if value in FINISHED else None

        return wait_for(f"the end of run {run_id}", status, self, limit_s)


class GraphQL:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/graphql"

    def __call__(self, query: str, variables: dict | None = None) -> dict:
        answer = httpx.post(self.url, json={"query": query, "variables": variables or {}}, timeout=30).json()
        if answer.get("errors"):
            raise AssertionError(f"GraphQL errors: {answer['errors']}")
        return answer["data"]


def wait_for(what: str, probe: Callable[[], object], deployment: Deployment, limit_s: float = STARTUP_LIMIT_S):
    """Call ``probe`` until it returns something truthy (bounded); fail naming ``what`` and the last error."""
    deadline = time.monotonic() + limit_s
    last = "no answer"
    while time.monotonic() < deadline:
        deployment.check_alive()
        try:
            result = probe()
            if result:
                return result
            last = repr(result)[:300]
        except (httpx.HTTPError, ValueError, KeyError, AssertionError) as exc:
            last = f"{type(exc).__name__}: {exc}"[:500]
        time.sleep(1)
    pytest.fail(f"{what} not reached within {limit_s:.0f}s; last: {last}")


@pytest.fixture
def pg_databases() -> Iterator[Callable[[], str]]:
    """``make()`` creates a private PostgreSQL database and returns its URL; all are dropped afterwards."""
    engine = create_engine(PG_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # any driver/connection failure means "no PostgreSQL here"
        engine.dispose()
        require_service(f"PostgreSQL not reachable at {PG_URL}: {type(exc).__name__}")
    names: list[str] = []

    def make() -> str:
        name = f"deploy_t_{uuid.uuid4().hex[:10]}"
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        names.append(name)
        return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)

    try:
        yield make
    finally:
        with engine.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture
def deployment(tmp_path, pg_databases, monkeypatch) -> Iterator[Deployment]:
    """The gRPC code server, the daemon and the webserver of deploy/Procfile on free loopback ports, with
    the root dagster.yaml (as shipped) on a private PostgreSQL database and the app DB on another. Not started yet:
    the test may add environment (``deployment.env``), then calls ``start_core()``."""
    dagster_url = make_url(pg_databases())
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    logs = tmp_path / "logs"
    logs.mkdir()
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": dagster_url.host or "127.0.0.1", "DAGSTER_PG_PORT": str(dagster_url.port or 5432),
        "DAGSTER_PG_USER": dagster_url.username or "postgres", "DAGSTER_PG_PASSWORD": dagster_url.password or "",
        "DAGSTER_PG_DB": dagster_url.database,
        "DAGSTER_GRPC_HOST": "127.0.0.1", "DAGSTER_GRPC_PORT": str(free_port()),
        "DAGSTER_WEBSERVER_HOST": "127.0.0.1", "DAGSTER_WEBSERVER_PORT": str(free_port()),
        "AISTOCK_HOME": str(tmp_path / "aistock_home"),
        "AISTOCK_DATABASE_URL": pg_databases(),
    }
    for name in ("DAGSTER_HOME", "DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD",
                 "DAGSTER_PG_DB"):
        monkeypatch.setenv(name, env[name])  # so DagsterInstance.get() in the test reads the same instance
    deployment = Deployment(env, logs)
    try:
        yield deployment
    finally:
        deployment.stop()


@pytest.fixture
def celery_broker() -> tuple[str, str]:
    """(broker, backend) URLs: the machine's RabbitMQ (with the rpc:// backend), else its Redis."""
    try:
        import dagster_celery  # noqa: F401
    except ImportError:
        require_service("dagster-celery not installed (pip install -e '.[celery]')")
    if port_answers("127.0.0.1", 5672):
        return "pyamqp://guest:guest@127.0.0.1:5672//", "rpc://"
    if port_answers("127.0.0.1", 6379):
        return "redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"
    require_service("no Celery broker: neither RabbitMQ (127.0.0.1:5672) nor Redis (127.0.0.1:6379) answers")
    raise AssertionError("unreachable")

"""The real ``dagster-webserver`` loads the ``aistock`` code location of workspace.yaml and serves the connected
asset graph and the named jobs over GraphQL, without a warning in its log."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
STARTUP_LIMIT_S = 60
QUERY = """{
  assetNodes { assetKey { path } groupName isPartitioned dependencyKeys { path } }
  repositoriesOrError { ... on RepositoryConnection { nodes { location { name } jobs { name description } } } }
}"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _webserver_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("dagster-webserver")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "dagster_webserver"]


def _query_until_loaded(url: str, proc: subprocess.Popen) -> dict:
    """POST the query until the code location has loaded (bounded: STARTUP_LIMIT_S)."""
    deadline = time.monotonic() + STARTUP_LIMIT_S
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"dagster-webserver exited with {proc.returncode} before answering")
        try:
            answer = httpx.post(url, json={"query": QUERY}, timeout=5).json()
            if answer.get("data", {}).get("assetNodes"):
                return answer["data"]
            last = str(answer)[:300]
        except (httpx.HTTPError, ValueError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.5)
    pytest.fail(f"dagster-webserver did not serve the asset graph within {STARTUP_LIMIT_S}s; last: {last}")


def test_webserver_serves_the_aistock_location_its_named_jobs_and_one_connected_graph(tmp_path):
    port = _free_port()
    (tmp_path / "dagster").mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster"), "AISTOCK_HOME": str(tmp_path / "home")}
    log_path = tmp_path / "webserver.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [*_webserver_cmd(), "-w", str(ROOT / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        data = _query_until_loaded(f"http://127.0.0.1:{port}/graphql", proc)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()
    nodes = {"/".join(n["assetKey"]["path"]): n for n in data["assetNodes"]}
    assert {"instruments", "market_bars", "index_bars", "alpha158_factors", "target_positions"} <= set(nodes)
    assert nodes["market_bars"]["isPartitioned"] and nodes["market_bars"]["groupName"] == "data"
    assert not nodes["instruments"]["isPartitioned"]

    # one weakly connected component, walked over the edges as the UI's lineage view receives them
    neighbours: dict[str, set[str]] = {name: set() for name in nodes}
    for name, node in nodes.items():
        for dep in node["dependencyKeys"]:
            parent = "/".join(dep["path"])
            neighbours[name].add(parent)
            neighbours.setdefault(parent, set()).add(name)
    reached, stack = set(), ["instruments"]
    while stack:
        name = stack.pop()
        if name not in reached:
            reached.add(name)
            stack.extend(neighbours[name] - reached)
    assert reached == set(neighbours), f"not connected to the rest: {sorted(set(neighbours) - reached)}"

    [repository] = data["repositoriesOrError"]["nodes"]
    assert repository["location"]["name"] == "aistock"
    jobs = {job["name"]: job["description"] for job in repository["jobs"]}
    assert {"trading_day_assets", "monthly_assets", "unpartitioned_assets", "market_eod"} <= set(jobs)
    assert all(jobs[name] for name in jobs if not name.startswith("__"))
    warnings = [line for line in log_path.read_text().splitlines() if "Warning" in line]
    assert not warnings, warnings

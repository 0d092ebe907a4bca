"""``aistock alerts test|check-daemon|history`` through the real typer app, against a loopback HTTP receiver."""

from __future__ import annotations

import json
import socket
import time

import dagster as dg
import pytest
from dagster._daemon.types import DaemonHeartbeat
from typer.testing import CliRunner

from aistock_core.config import get_settings
from aistock_pipelines.cli.main import app

runner = CliRunner()


@pytest.fixture
def channel_to(aistock_home, monkeypatch):
    """``channel_to(url)``: configure one webhook channel posting to ``url``."""
    def configure(url: str) -> None:
        monkeypatch.setenv("AISTOCK_ALERT_HOOK_URL", url)
        monkeypatch.setenv("AISTOCK_ALERT_CHANNELS", json.dumps(
            [{"name": "hook", "type": "webhook", "url_env": "AISTOCK_ALERT_HOOK_URL", "retries": 0}]))
        get_settings.cache_clear()

    return configure


def test_test_command_reports_each_channel(receiver, channel_to):
    channel_to(receiver.url())
    result = runner.invoke(app, ["alerts", "test", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [{"channel": "hook", "status": "sent", "error": ""}]
    assert receiver.requests[0].body["kind"] == "test" and receiver.requests[0].body["severity"] == "warning"


def test_test_command_fails_naming_the_broken_channel(channel_to):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        channel_to(f"http://127.0.0.1:{sock.getsockname()[1]}/")
    result = runner.invoke(app, ["alerts", "test"])
    assert result.exit_code == 2
    assert "test alert not delivered on ['hook']" in result.stderr
    history = runner.invoke(app, ["alerts", "history", "--json"])
    [row] = json.loads(history.stdout)
    assert row["status"] == "failed" and "ConnectError" in row["error"]


def test_test_command_without_channels_says_what_to_set(aistock_home):
    result = runner.invoke(app, ["alerts", "test"])
    assert result.exit_code == 2 and "set AISTOCK_ALERT_CHANNELS" in result.stderr


def test_check_daemon_alerts_on_the_daemon_without_a_recent_heartbeat(receiver, channel_to, tmp_path, monkeypatch):
    channel_to(receiver.url())
    home = tmp_path / "dagster"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    get_settings.cache_clear()
    with dg.DagsterInstance.get() as instance:
        required = sorted(instance.get_required_daemon_types())
        # Heartbeats are real timestamps (the daemon writes time.time()); ages are what is controlled here.
        for daemon in required:
            age = 1000 if daemon == "SENSOR" else 5
            instance.add_daemon_heartbeat(DaemonHeartbeat(time.time() - age, daemon, "d1", errors=[]))
    result = runner.invoke(app, ["alerts", "check-daemon", "--max-age", "300", "--json"])
    assert result.exit_code == 1, result.output
    rows = {row["daemon"]: row for row in json.loads(result.stdout)}
    assert set(rows) == set(required) and "SENSOR" in rows
    assert {d for d, row in rows.items() if row["status"] == "DOWN"} == {"SENSOR"}
    assert 990 <= rows["SENSOR"]["age_s"] <= 1100
    assert [r.body["key"] for r in receiver.requests] == ["daemon_heartbeat:SENSOR"]

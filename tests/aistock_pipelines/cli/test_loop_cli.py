"""``aistock loop status|signals`` on a SQLite app DB under a private AISTOCK_HOME (dates pinned)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from aistock_pipelines.cli.main import app

runner = CliRunner()
DAY = "2024-04-02"


@pytest.fixture
def env(aistock_home, monkeypatch, set_now):
    monkeypatch.setenv("AISTOCK_SYNTHETIC_END", "2024-04-30")
    monkeypatch.setenv("AISTOCK_SYNTHETIC_INSTRUMENTS", "30")
    set_now(f"{DAY} 16:00")
    from aistock_core.config import get_settings
    from aistock_core.data.factory import build_service
    from aistock_core.db import Database
    from aistock_core.preview.engine import SignalPreviewEngine
    from aistock_core.preview.instances import create_instance
    from aistock_core.signals.daily import generate_day, sync_day

    settings = get_settings()
    db, service = Database(settings.sqlalchemy_url), build_service(settings)
    inst = create_instance(db, "loopy", 1e6)
    stocks = [c for c in service.instruments("all") if not c.endswith(".BJ")][:5]
    targets = pd.Series(0.18, index=stocks)
    generate_day(db, service, DAY, targets, pd.Series(0.0, index=service.instruments("all")))
    SignalPreviewEngine(db, service, lambda i, d: targets).run(DAY)
    sync_day(db, service, DAY, final=True)
    db.dispose()
    return inst


def _run(*args: str):
    return runner.invoke(app, ["loop", *args])


def test_status_and_signals(env):
    status = _run("status", "--json")
    assert status.exit_code == 0, status.output
    payload = json.loads(status.stdout)
    assert payload["day"] == DAY and [i["id"] for i in payload["instances"]] == [f"preview-{env.id}"]
    [counts] = payload["signals"]
    assert counts["instance"] == f"preview-{env.id}" and counts["total"] == 5
    assert payload["last_evaluation"] == []
    text = _run("status")
    assert text.exit_code == 0 and "Signals of 2024-04-02 by state" in text.stdout
    assert "no evaluation yet" in text.stdout

    got = _run("signals", "--instance", "loopy", "--date", DAY, "--json")
    assert got.exit_code == 0, got.output
    signals = json.loads(got.stdout)["signals"]
    assert len(signals) == 5 and all(s["transitions"][0]["to_state"] == "generated" for s in signals)
    assert all(s["transitions"][-1]["to_state"] == s["state"] for s in signals)
    for ref in (f"preview-{env.id}", f"preview:{env.id}"):  # the id, and its older spelling scripts still use
        table = _run("signals", "--instance", ref, "--date", DAY)
        assert table.exit_code == 0 and f"preview-{env.id}" in table.stdout


@pytest.mark.parametrize(("args", "message"), [
    (("--instance", "nope", "--date", DAY), "unknown instance 'nope'"),
    (("--instance", "loopy", "--date", "2024-04-04"), "2024-04-04 (Thursday) is not a trading day"),
    (("--instance", "loopy", "--date", "someday"), "--date 'someday' is not a date"),
])
def test_bad_input_is_one_line(env, args, message):
    result = _run("signals", *args)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("error")]
    assert len(lines) == 1 and message in lines[0]

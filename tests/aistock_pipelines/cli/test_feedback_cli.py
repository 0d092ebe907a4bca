"""``aistock feedback build|request`` and ``aistock loop proposals|approve|reject`` end to end on the synthetic
market and a SQLite app DB (dates pinned); every refusal is one line, exit 2, and writes nothing."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from aistock_pipelines.cli.main import app

runner = CliRunner()
WEEK = ("2024-04-08", "2024-04-12")


@pytest.fixture
def env(aistock_home, monkeypatch):
    """One preview instance traded and settled over April 2024's first sessions in the CLI's own DB."""
    from aistock_core.config import get_settings
    from aistock_core.data.factory import build_service
    from aistock_core.db import Database
    from aistock_core.preview.engine import SignalPreviewEngine
    from aistock_core.preview.instances import create_instance
    from aistock_core.preview.settle import settle

    monkeypatch.setenv("AISTOCK_SYNTHETIC_END", "2024-04-30")
    monkeypatch.setenv("AISTOCK_SYNTHETIC_INSTRUMENTS", "30")
    get_settings.cache_clear()
    settings = get_settings()
    db, service = Database(settings.sqlalchemy_url), build_service(settings)
    stocks = [c for c in service.instruments("all") if not c.endswith(".BJ")][:4]
    inst = create_instance(db, "cli", 1e6)
    engine = SignalPreviewEngine(db, service, lambda _i, _d: pd.Series(0.2, index=stocks))
    for day in service.calendar.sessions_in_range("2024-04-01", WEEK[1]):
        engine.run(day, ids=[inst.id])
        settle(db, service, day)
    db.dispose()
    return aistock_home, f"preview-{inst.id}"


def _ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def _refused(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error ("), result.stderr
    return lines[0]


def test_feedback_build_and_request(env, tmp_path):
    home, ref = env
    out = json.loads(_ok("feedback", "build", "--instance", ref, "--start", WEEK[0], "--end", WEEK[1], "--kind",
                         "week", "--json"))
    path = home / "feedback" / ref / "week" / f"{WEEK[0]}_{WEEK[1]}.json"
    assert out["feedback"] == str(path) and json.loads(path.read_text())["period"]["sessions"] == 5
    own = tmp_path / "own.json"
    _ok("feedback", "build", "--instance", ref, "--start", WEEK[0], "--end", WEEK[0], "--kind", "day", "--out",
        str(own))
    assert json.loads(own.read_text())["period"]["kind"] == "day"
    request = tmp_path / "req.json"
    made = json.loads(_ok("feedback", "request", "--from", str(path), "--objective", "volatility", "--out",
                          str(request), "--json"))
    assert made["direction"] == "minimize"
    assert json.loads(request.read_text())["extra"]["live_feedback"] == str(path)
    # a file aistock did not write is kept, unless --force (which the refusal names) says otherwise
    notes = tmp_path / "notes.json"
    notes.write_text("my notes")
    assert "--force" in _refused("feedback", "request", "--from", str(path), "--out", str(notes))
    assert notes.read_text() == "my notes"
    _ok("feedback", "request", "--from", str(path), "--out", str(notes), "--force")
    assert json.loads(notes.read_text())["objective"]["primary_metric"]


def test_feedback_refusals_write_nothing(env, tmp_path):
    _, ref = env
    out = tmp_path / "never" / "x.json"
    for args, message in (
        (("--instance", "preview-99", "--start", WEEK[0], "--end", WEEK[1]), "unknown instance 'preview-99'"),
        (("--instance", ref, "--start", WEEK[1], "--end", WEEK[0]), "empty period"),
        (("--instance", ref, "--start", "2024-04-04", "--end", "2024-04-07"), "no trading session"),
        (("--instance", ref, "--start", "2024-04-15", "--end", "2024-04-16"), "no settled account day"),
        (("--instance", ref, "--start", WEEK[0], "--end", WEEK[1], "--kind", "day"), "not one day"),
    ):
        assert message in _refused("feedback", "build", *args, "--out", str(out))
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": 1}')
    assert "breaks schema v1" in _refused("feedback", "request", "--from", str(bad), "--out", str(out))
    assert "cannot read LiveFeedback" in _refused("feedback", "request", "--from", str(tmp_path / "nope.json"),
                                                  "--out", str(out))
    assert not out.parent.exists()


def test_loop_proposals_approve_reject(env):
    from aistock_core.config import get_settings
    from aistock_core.db import Database
    from aistock_core.feedback.optimizer import Proposal
    from aistock_core.feedback.proposals import params_version, record_proposals

    _, ref = env
    db = Database(get_settings().sqlalchemy_url)
    first, second = record_proposals(db, pd.Timestamp(WEEK[1]), [
        Proposal("sizing", ref, {ref: {"strategy.kwargs.risk_degree": 0.5}}, {"metric": "growth"}),
        Proposal("risk", ref, {ref: {"limits.max_drawdown": 0.08}}, {"metric": "sharpe"})])
    listed = json.loads(_ok("loop", "proposals", "--json"))
    assert [p["id"] for p in listed] == [first.id, second.id]
    assert "pass --by NAME" in _refused("loop", "approve", str(first.id), "--by", " ")
    assert "not a number" in _refused("loop", "approve", "abc", "--by", "ann")
    assert "no proposal with id 999" in _refused("loop", "reject", "999", "--by", "ann")
    assert params_version(db, ref)[0] == 1
    assert "approved by ann" in _ok("loop", "approve", str(first.id), "--by", "ann", "--note", "ok")
    assert "already approved" in _refused("loop", "reject", str(first.id), "--by", "bob")
    _ok("loop", "reject", str(second.id), "--by", "bob")
    assert params_version(db, ref)[0] == 2 and params_version(db, ref)[1]["strategy"]["kwargs"]["risk_degree"] == 0.5
    assert "no pending proposals" in _ok("loop", "proposals")
    db.dispose()

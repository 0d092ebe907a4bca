"""``aistock trade`` through the real typer app on a small synthetic market (2024-07-01 is a session)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from aistock_core.config import get_settings
from aistock_pipelines.cli.main import app

runner = CliRunner()
DAY = "2024-07-01"


@pytest.fixture
def home(aistock_home, monkeypatch):
    for key, value in {"AISTOCK_SYNTHETIC_END": "2024-06-28", "AISTOCK_SYNTHETIC_START": "2024-01-02",
                       "AISTOCK_SYNTHETIC_INSTRUMENTS": "40"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AISTOCK_TRADING_MODE", raising=False)
    get_settings.cache_clear()
    return aistock_home


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def ok_json(*args) -> dict:
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def refused(*args) -> str:
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    return result.output


def create(name="demo", *extra):
    return ok_json("trade", "instance", "create", "--name", name, "--capital", 1_000_000, *extra)


def test_create_and_bad_input(home, tmp_path):
    assert create()["id"] == 1
    assert "already exists" in refused("trade", "instance", "create", "--name", "demo", "--capital", 1e6)
    assert "greater than 0" in refused("trade", "instance", "create", "--name", "x", "--capital", -5)
    policy = tmp_path / "p.yaml"
    policy.write_text("max_positon_ratio: 0.2\n")
    assert "malformed risk policy" in refused("trade", "instance", "create", "--name", "y", "--capital", 1e6,
                                              "--policy", policy)
    assert "unknown trading instance 'nope'" in refused("trade", "status", "--instance", "nope", "--date", DAY)


def test_plan_sends_nothing_run_sends_once_status_and_reconcile(home):
    create()
    plan = ok_json("trade", "plan", "--instance", "demo", "--date", DAY)
    assert len(plan["orders"]) == 10 and all(o["allowed"] for o in plan["orders"])
    assert ok_json("trade", "run", "--instance", "demo", "--date", DAY)["orders"] == plan["orders"]  # dry run
    assert ok_json("trade", "status", "--instance", "demo", "--date", DAY)["orders"] == []
    first = ok_json("trade", "run", "--instance", "demo", "--date", DAY, "--submit")
    assert (first["planned_now"], first["submitted"]) == (10, 10)
    again = ok_json("trade", "run", "--instance", "demo", "--date", DAY, "--submit")
    assert (again["planned_now"], again["submitted"]) == (0, 0)
    status = ok_json("trade", "status", "--instance", "demo", "--date", DAY)
    assert len(status["orders"]) == 10
    for order in status["orders"]:
        assert {"intent_key", "symbol", "side", "volume", "status", "broker_order_id", "filled_volume"} <= set(order)
        assert order["broker_order_id"]
    assert sum(o["filled_volume"] for o in status["orders"]) > 0
    assert ok_json("trade", "reconcile", "--instance", "demo", "--date", DAY)["mismatches"] == []


def test_non_session_day_is_refused(home):
    create()
    assert "not a trading session" in refused("trade", "run", "--instance", "demo", "--date", "2024-07-06",
                                              "--submit")


def test_live_needs_approval_and_the_trading_mode(home, monkeypatch):
    create("real", "--mode", "live")
    assert "AISTOCK_TRADING_MODE" in refused("trade", "run", "--instance", "real", "--date", DAY, "--submit")
    ok_json("trade", "approve", "--instance", "real", "--by", "risk-officer")
    assert "AISTOCK_TRADING_MODE" in refused("trade", "run", "--instance", "real", "--date", DAY, "--submit")
    assert ok_json("trade", "status", "--instance", "real", "--date", DAY)["orders"] == []  # nothing was sent
    monkeypatch.setenv("AISTOCK_TRADING_MODE", "live")
    get_settings.cache_clear()
    run = ok_json("trade", "run", "--instance", "real", "--date", DAY, "--submit")
    assert run["mode"] == "live" and run["submitted"] == 10


def test_live_without_approval_is_refused_even_in_live_mode(home, monkeypatch):
    create("real", "--mode", "live")
    monkeypatch.setenv("AISTOCK_TRADING_MODE", "live")
    get_settings.cache_clear()
    assert "no recorded approval" in refused("trade", "run", "--instance", "real", "--date", DAY, "--submit")


def test_halt_blocks_and_resume_lifts(home):
    create()
    halted = ok_json("trade", "halt", "--instance", "demo", "--reason", "drill", "--date", DAY)
    assert halted["trading_state"] == "halted"
    run = ok_json("trade", "run", "--instance", "demo", "--date", DAY, "--submit")
    assert run["submitted"] == 0 and run["denied"] == 10
    assert ok_json("trade", "resume", "--instance", "demo")["halts_closed"] == 1
    assert ok_json("trade", "status", "--instance", "demo", "--date", DAY)["trading_state"] == "active"


def test_live_refuses_a_provisional_day_and_sends_nothing(home, monkeypatch):
    create("real", "--mode", "live")
    ok_json("trade", "approve", "--instance", "real", "--by", "risk-officer")
    for key, value in {"AISTOCK_TRADING_MODE": "live", "AISTOCK_CALENDAR_PROVISIONAL": "weekdays"}.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    message = refused("trade", "run", "--instance", "real", "--date", "2027-01-04", "--submit")
    assert "2027-01-04 is a provisional session" in message and "send live orders" in message
    assert ok_json("trade", "status", "--instance", "real", "--date", "2027-01-04")["orders"] == []

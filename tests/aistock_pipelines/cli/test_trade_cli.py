"""``aistock trade`` through the real typer app on a small synthetic market (2024-07-01 is a session)."""

from __future__ import annotations

import json
from pathlib import Path

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


@pytest.fixture
def weights(home, tmp_path) -> Path:
    """Equal weights on ten names of the market: a fixed book, so the counts below are known."""
    from aistock_core.data.factory import build_service

    names = build_service(get_settings()).instruments("all")[:10]
    path = tmp_path / "weights.json"
    path.write_text(json.dumps({name: 0.09 for name in names}))
    return path


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


def test_plan_sends_nothing_run_sends_once_status_and_reconcile(home, weights):
    create()
    plan = ok_json("trade", "plan", "--instance", "demo", "--date", DAY, "--weights", weights)
    assert len(plan["orders"]) == 10 and all(o["allowed"] for o in plan["orders"])
    assert ok_json("trade", "run", "--instance", "demo", "--date", DAY, "--weights", weights)["orders"] == \
        plan["orders"]  # dry run
    assert ok_json("trade", "status", "--instance", "demo", "--date", DAY)["orders"] == []
    first = ok_json("trade", "run", "--instance", "demo", "--date", DAY, "--submit", "--weights", weights)
    assert (first["planned_now"], first["submitted"]) == (10, 10)
    again = ok_json("trade", "run", "--instance", "demo", "--date", DAY, "--submit", "--weights", weights)
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


def test_without_weights_the_instance_trades_its_own_targets(home):
    """No --weights: the pipeline's strategy on the fallback signal (no model is registered here), a fresh account
    buying only, every name one the strategy holds."""
    create()
    orders = ok_json("trade", "plan", "--instance", "demo", "--date", DAY)["orders"]
    assert orders and {o["side"] for o in orders} == {"buy"}
    assert len({o["symbol"] for o in orders}) == len(orders)


def test_live_needs_approval_and_the_trading_mode(home, monkeypatch, weights):
    create("real", "--mode", "live")
    assert "AISTOCK_TRADING_MODE" in refused("trade", "run", "--instance", "real", "--date", DAY, "--submit")
    ok_json("trade", "approve", "--instance", "real", "--by", "risk-officer")
    assert "AISTOCK_TRADING_MODE" in refused("trade", "run", "--instance", "real", "--date", DAY, "--submit")
    assert ok_json("trade", "status", "--instance", "real", "--date", DAY)["orders"] == []  # nothing was sent
    monkeypatch.setenv("AISTOCK_TRADING_MODE", "live")
    get_settings.cache_clear()
    run = ok_json("trade", "run", "--instance", "real", "--date", DAY, "--submit", "--weights", weights)
    assert run["mode"] == "live" and run["submitted"] == 10


def test_live_without_approval_is_refused_even_in_live_mode(home, monkeypatch):
    create("real", "--mode", "live")
    monkeypatch.setenv("AISTOCK_TRADING_MODE", "live")
    get_settings.cache_clear()
    assert "no recorded approval" in refused("trade", "run", "--instance", "real", "--date", DAY, "--submit")


def test_halt_blocks_and_resume_lifts(home, weights):
    create()
    halted = ok_json("trade", "halt", "--instance", "demo", "--reason", "drill", "--date", DAY)
    assert halted["trading_state"] == "halted"
    run = ok_json("trade", "run", "--instance", "demo", "--date", DAY, "--submit", "--weights", weights)
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


def paper_account(home) -> Path:
    return Path(home) / "paper" / "SIM-demo.json"


def test_a_mismatch_refuses_the_next_run_until_acknowledged(home, weights):
    create()
    first = ok_json("trade", "run", "--instance", "demo", "--date", DAY, "--submit", "--weights", weights)
    assert first["submitted"] == 10
    state = json.loads(paper_account(home).read_text())
    state["cash"] += 1000.0  # the broker's cash moves without a trade: our book no longer agrees
    paper_account(home).write_text(json.dumps(state))
    found = ok_json("trade", "reconcile", "--instance", "demo", "--date", DAY)
    assert [m["kind"] for m in found["mismatches"]] == ["cash"] and found["unresolved"] == 1
    message = refused("trade", "run", "--instance", "demo", "--date", DAY, "--slot", "10:35", "--submit",
                      "--weights", weights)
    assert "unresolved reconciliation mismatch" in message and "--acknowledge" in message
    assert len(message.strip().splitlines()) == 1
    assert "--by NAME and --note" in refused("trade", "reconcile", "--instance", "demo", "--date", DAY,
                                             "--acknowledge", "--by", "ops")
    acked = ok_json("trade", "reconcile", "--instance", "demo", "--date", DAY, "--acknowledge", "--by", "ops",
                    "--note", "broker credited interest")
    assert acked["acknowledged"]["by"] == "ops" and acked["unresolved"] == 0
    # the cash difference as the manual reconcile and the refused 10:35 run recorded it
    assert [m["rule"] for m in acked["acknowledged"]["mismatches"]] == ["cash", "cash"]
    run = ok_json("trade", "run", "--instance", "demo", "--date", DAY, "--slot", "10:35", "--submit",
                  "--weights", weights)
    assert run["blocked"] is None and run["reconcile_end"]["mismatches"] == []


@pytest.mark.parametrize("args, says", [
    (("trade", "run", "--instance", "nope", "--date", DAY, "--submit"), "unknown trading instance 'nope'"),
    (("trade", "plan", "--instance", "nope", "--date", DAY), "unknown trading instance 'nope'"),
    (("trade", "halt", "--instance", "nope", "--reason", "x"), "unknown trading instance 'nope'"),
    (("trade", "reconcile", "--instance", "nope", "--date", DAY), "unknown trading instance 'nope'"),
    (("trade", "run", "--instance", "demo", "--date", DAY, "--submit", "--order-type", "stop"),
     "order type 'stop' must be one of"),
    (("trade", "run", "--instance", "demo", "--date", "2024-13-01", "--submit"), "is not a date"),
    (("trade", "run", "--instance", "demo", "--date", DAY, "--slot", "9h35", "--submit"), "not a time of day"),
    (("trade", "instance", "create", "--name", "neg", "--capital", -1), "greater than 0"),
    (("trade", "reconcile", "--instance", "demo", "--date", DAY, "--acknowledge", "--by", "ops", "--note", "x"),
     "no unresolved reconciliation mismatch"),
])
def test_bad_input_is_one_line_and_sends_nothing(home, args, says):
    create()
    message = refused(*args)
    assert says in message and len(message.strip().splitlines()) == 1, message
    assert ok_json("trade", "status", "--instance", "demo", "--date", DAY)["orders"] == []
    assert not paper_account(home).exists() or json.loads(paper_account(home).read_text())["orders"] == []


def test_malformed_policy_files_create_nothing(home, tmp_path):
    for name, text in {"bad.yaml": "max_position_ratio: [1\n", "bad.json": "{", "list.yaml": "- 1\n",
                       "range.yaml": "max_position_ratio: 1.5\n"}.items():
        (tmp_path / name).write_text(text)
        message = refused("trade", "instance", "create", "--name", "p", "--capital", 1e6, "--policy",
                          tmp_path / name)
        assert "risk policy" in message and len(message.strip().splitlines()) == 1, message
    assert "unknown trading instance 'p'" in refused("trade", "status", "--instance", "p")


def test_market_orders_from_the_cli(home, weights):
    create()
    plan = ok_json("trade", "plan", "--instance", "demo", "--date", DAY, "--order-type", "market",
                   "--weights", weights)
    assert {o["price_type"] for o in plan["orders"]} == {"market"}
    run = ok_json("trade", "run", "--instance", "demo", "--date", DAY, "--submit", "--order-type", "market",
                  "--weights", weights)
    assert run["submitted"] == 10 and {o["price_type"] for o in run["orders"]} == {"market"}


def test_paper_orders_fill_only_after_the_slot(home, weights):
    """An order sent at 09:35 matches from the 09:36 bar on: never on the bars of the morning before it arrived."""
    create()
    ok_json("trade", "run", "--instance", "demo", "--date", DAY, "--submit", "--weights", weights)
    state = json.loads(paper_account(home).read_text())
    fills = [fill for order in state["orders"] for fill in order["fills"]]
    assert fills and all(order["start_minute"] == 6 for order in state["orders"])
    assert min(str(fill["traded_at"]) for fill in fills) >= f"{DAY}T09:36"

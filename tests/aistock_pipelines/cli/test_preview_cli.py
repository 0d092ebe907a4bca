"""``aistock preview`` end to end on the embedded synthetic market and a SQLite app DB (dates pinned)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from aistock_pipelines.cli.main import app

runner = CliRunner()


@pytest.fixture
def env(aistock_home, monkeypatch):
    monkeypatch.setenv("AISTOCK_SYNTHETIC_END", "2024-04-30")
    monkeypatch.setenv("AISTOCK_SYNTHETIC_INSTRUMENTS", "30")
    return aistock_home


def _ok(*args: str) -> str:
    result = runner.invoke(app, ["preview", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def _refused(*args: str) -> str:
    result = runner.invoke(app, ["preview", *args])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("error")]
    assert len(lines) == 1
    return lines[0]


def test_preview_commands_end_to_end(env, tmp_path):
    first = int(_ok("create", "--name", "a", "--capital", "1000000", "--topk", "8", "--n-drop", "2").strip())
    second = json.loads(_ok("create", "--name", "b", "--capital", "500000", "--topk", "12", "--json"))["id"]
    assert "positive" in _refused("create", "--name", "c", "--capital", "-5")
    assert "no preview instance with id 99" in _refused("show", "99")
    assert "not an XSHG session" in _refused("trade", "--date", "2024-04-04")

    traded = json.loads(_ok("trade", "--date", "2024-04-01", "--at", "09:35", "--json"))
    assert set(traded["instances"]) == {str(first), str(second)}
    assert traded["instances"][str(first)]["filled"] > 0
    again = json.loads(_ok("trade", "--date", "2024-04-01", "--at", "09:35", "--json"))
    assert again["instances"] == {} and set(again["skipped"]) == {str(first), str(second)}

    refreshed = json.loads(_ok("refresh", "--at", "2024-04-01 10:30", "--json"))
    assert set(refreshed) >= {"instances", "positions", "quotes", "seconds"} and refreshed["instances"] == 2
    assert "not an XSHG session" in _refused("refresh", "--at", "2024-04-06 10:30")

    settled = json.loads(_ok("settle", "--date", "2024-04-01", "--end", "2024-04-02", "--json"))
    assert [r["day"] for r in settled["settled"]] == ["2024-04-01", "2024-04-02"] and settled["mismatches"] == 0

    shown = json.loads(_ok("show", str(first), "--json"))
    assert shown["account"]["settled"] and shown["account"]["trading_day"] == "2024-04-02"
    assert {p["symbol"] for p in shown["positions"]}

    out = tmp_path / "report.html"
    report = json.loads(_ok("report", "--ids", f"{first},{second}", "--out", str(out), "--json"))
    assert out.exists() and out.with_suffix(".png").exists()
    assert [k["series"] for k in report["kpis"]] == [f"{first}:a", f"{second}:b", "000001.SH"]

    _ok("stop", str(first))
    assert "only running instances trade" not in _ok("trade", "--date", "2024-04-02", "--json")
    listed = {row["id"]: row["status"] for row in json.loads(_ok("list", "--json"))}
    assert listed == {first: "stopped", second: "running"}


@pytest.mark.parametrize("command", ["show", "stop", "archive"])
@pytest.mark.parametrize("ref", ["9" * 30, "0", "-3", "2.5", "abc"])
def test_an_id_no_row_can_have_is_a_usage_error(env, command, ref):
    """Ids are positive 64-bit integers in every database: anything else is refused before a query is built (a
    30-digit id used to reach the driver and crash with OverflowError)."""
    line = _refused(command, "--", ref)
    assert "preview_id" in line and f"preview {command} --help" in line

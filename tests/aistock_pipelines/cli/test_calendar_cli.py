"""``aistock calendar ...`` through the real typer app: holidays, ranges, errors, the horizon warning."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from typer.testing import CliRunner

from aistock_core.calendar import xshg_calendar
from aistock_pipelines.cli import calendar as calendar_cli
from aistock_pipelines.cli.main import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def fixed_today(aistock_home, monkeypatch):
    """Every command runs on 2024-10-01 (National Day) unless a test moves the clock again."""
    monkeypatch.setattr(calendar_cli, "today", lambda: pd.Timestamp("2024-10-01"))


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_next_from_a_holiday_names_the_sessions_either_side():
    result = invoke("calendar", "next", "2024-10-01", "-n", "3")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == ("2024-10-01 (Tuesday) is not a trading day on XSHG; previous session 2024-09-30; "
                        "next 2024-10-08")
    assert lines[1:] == ["next 1: 2024-10-08 (Tuesday)", "next 2: 2024-10-09 (Wednesday)",
                         "next 3: 2024-10-10 (Thursday)"]


def test_next_from_a_session_and_the_default_day():
    result = invoke("calendar", "next", "2026-02-13")
    assert result.stdout.splitlines() == ["2026-02-13 (Friday) is a trading day on XSHG",
                                          "next 1: 2026-02-24 (Tuesday)"]
    default = invoke("calendar", "next")  # today = 2024-10-01
    assert default.stdout.splitlines()[-1] == "next 1: 2024-10-08 (Tuesday)"


def test_sessions_lists_days_and_groups_the_holiday():
    result = invoke("calendar", "sessions", "2026-02-12", "2026-02-25")
    assert result.exit_code == 0, result.output
    out = result.stdout
    for day in ("2026-02-12", "2026-02-13", "2026-02-24", "2026-02-25"):
        assert day in out
    assert "2026-02-16 │ 2026-02-23 │        6" in out  # one run: Mon 16 .. Mon 23, six weekdays
    assert out.splitlines()[-1] == "4 sessions, 6 closed weekdays"


def test_sessions_of_a_single_holiday():
    result = invoke("calendar", "sessions", "2024-10-03")
    assert result.exit_code == 0
    assert "no sessions between 2024-10-03 and 2024-10-03 on XSHG" in result.stdout
    assert result.stdout.splitlines()[-1] == "0 sessions, 1 closed weekday"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("calendar", "sessions", "2024-13-01"), "cannot read START '2024-13-01' as a date; write it as YYYY-MM-DD"),
        (("calendar", "sessions", "2024-10-10", "2024-10-01"), "START 2024-10-10 is after END 2024-10-01"),
        (("calendar", "next", "2031-01-02"), "2031-01-02 is past the horizon of calendar 'XSHG'"),
    ],
)
def test_errors_are_one_red_line_with_exit_code_2(args, message):
    result = invoke(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error (CalendarError): ")
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_info_reports_today_and_the_horizon():
    result = invoke("calendar", "info")
    assert result.exit_code == 0
    lines = [line.strip() for line in result.stdout.splitlines()[1:] if line.strip()]  # after the title
    rows = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in lines)
    last = xshg_calendar().last
    assert rows["calendar"] == "XSHG"
    assert rows["today"] == "2024-10-01"
    assert rows["today is"] == "not a trading day"
    assert rows["previous session"] == "2024-09-30"
    assert rows["next session"] == "2024-10-08"
    assert rows["last session"] == f"{last:%Y-%m-%d}"
    assert rows["days to horizon"] == f"{(last - pd.Timestamp('2024-10-01')).days:,}"


def test_qlib_calendar_via_provider_uri(tmp_path):
    (tmp_path / "calendars").mkdir()
    (tmp_path / "calendars" / "day.txt").write_text("2024-09-27\n2024-09-30\n2024-10-08\n")
    result = invoke("calendar", "next", "2024-09-30", "--provider-uri", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"2024-09-30 (Monday) is a trading day on qlib:{tmp_path}",
                                          "next 1: 2024-10-08 (Tuesday)"]
    missing = invoke("calendar", "info", "--provider-uri", str(tmp_path / "nope"))
    assert missing.exit_code == 2
    assert "Qlib calendar file not found" in missing.stderr


def test_horizon_warning_on_stderr_when_fewer_than_30_days_remain(monkeypatch):
    last = xshg_calendar().last
    monkeypatch.setattr(calendar_cli, "today", lambda: last - pd.Timedelta(days=10))
    result = invoke("calendar", "next", "2024-10-08")
    assert result.exit_code == 0
    assert result.stderr.startswith(f"warning: trading calendar 'XSHG' ends on {last:%Y-%m-%d}, 10 days from ")
    assert "warning" not in result.stdout

    monkeypatch.setattr(calendar_cli, "today", lambda: last - pd.Timedelta(days=30))
    assert invoke("calendar", "next", "2024-10-08").stderr == ""


def test_invalid_settings_stop_every_command_cleanly(monkeypatch):
    from aistock_core.config import get_settings

    monkeypatch.setenv("AISTOCK_DATA_SOURCE", "bloomberg")
    get_settings.cache_clear()
    result = invoke("calendar", "next", "2024-10-08")
    assert result.exit_code == 2
    assert result.stderr.startswith("error (ConfigError): invalid setting(s): AISTOCK_DATA_SOURCE='bloomberg'")

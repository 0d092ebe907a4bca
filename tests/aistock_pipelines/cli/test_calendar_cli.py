"""``aistock calendar ...`` through the real typer app: holidays, ranges, errors, the horizon warning."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from typer.testing import CliRunner

from aistock_core.calendar import xshg_calendar
from aistock_pipelines.cli.main import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def fixed_today(aistock_home, set_now):
    """Every command runs on 2024-10-01 (National Day) unless a test moves the clock again."""
    set_now("2024-10-01")


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


@pytest.mark.clock
def test_horizon_warning_on_stderr_when_fewer_than_30_days_remain(set_now):
    last = xshg_calendar().last
    set_now(f"{last - pd.Timedelta(days=10):%Y-%m-%d}")
    result = invoke("calendar", "next", "2024-10-08")
    assert result.exit_code == 0
    assert result.stderr.startswith(f"warning: trading calendar 'XSHG' ends on {last:%Y-%m-%d}, 10 days from ")
    assert "warning" not in result.stdout

    set_now(f"{last - pd.Timedelta(days=30):%Y-%m-%d}")
    assert invoke("calendar", "next", "2024-10-08").stderr == ""


def test_invalid_settings_stop_every_command_cleanly(monkeypatch):
    from aistock_core.config import get_settings

    monkeypatch.setenv("AISTOCK_DATA_SOURCE", "bloomberg")
    get_settings.cache_clear()
    result = invoke("calendar", "next", "2024-10-08")
    assert result.exit_code == 2
    assert result.stderr.startswith("error (ConfigError): invalid setting(s): AISTOCK_DATA_SOURCE='bloomberg'")


@pytest.fixture
def holiday_file(tmp_path, monkeypatch):
    from aistock_core.config import get_settings

    path = tmp_path / "ops" / "xshg_holidays.yaml"
    monkeypatch.setenv("AISTOCK_CALENDAR_HOLIDAYS", str(path))
    get_settings.cache_clear()
    return path


def _add_2027() -> None:
    first = invoke("calendar", "holidays", "add", "2027-01-01", "--note", "New Year", "--notice", "SSE 2027 notice")
    assert first.exit_code == 0, first.output
    second = invoke("calendar", "holidays", "add", "--range", "2027-02-08", "2027-02-12", "--note", "Spring Festival")
    assert second.exit_code == 0, second.output


@pytest.mark.clock
@pytest.mark.parametrize("now", ["2026-12-20", "2027-03-01"])  # inside the warning window; past the horizon
def test_json_is_pure_whatever_today_is(set_now, now):
    set_now(now)
    for args in (["info"], ["next", "2026-12-30"], ["sessions", "2026-12-28", "2026-12-31"], ["holidays", "list"],
                 ["holidays", "verify"]):
        result = invoke("calendar", *args, "--json")
        assert result.exit_code == 0, (args, result.output)
        json.loads(result.stdout)  # nothing but JSON on stdout
        assert result.stderr.startswith("warning: trading calendar 'XSHG' ends on 2026-12-31, ")
    info = json.loads(invoke("calendar", "info", "--json").stdout)
    assert info["today"] == now and info["authoritative_until"] == "2026-12-31"
    assert "holidays add" in info["warning"]


def test_holiday_file_add_list_and_the_calendar_answers_from_it(holiday_file):
    assert invoke("calendar", "next", "2026-12-31").exit_code == 2
    _add_2027()
    text = holiday_file.read_text()
    assert "notice: SSE 2027 notice" in text and "Spring Festival" in text
    nxt = json.loads(invoke("calendar", "next", "2026-12-31", "--json").stdout)
    assert nxt["next"] == [{"date": "2027-01-04", "weekday": "Monday", "provisional": False}]
    days = json.loads(invoke("calendar", "sessions", "2027-01-01", "2027-02-28", "--json").stdout)
    assert len(days["sessions"]) == 35 and days["provisional"] == 0  # by hand: 20 in January, 15 in February
    assert days["closed"] == [{"first": "2027-01-01", "last": "2027-01-01", "weekdays": 1},
                              {"first": "2027-02-08", "last": "2027-02-12", "weekdays": 5}]
    listed = json.loads(invoke("calendar", "holidays", "list", "--json").stdout)
    assert [(c["start"], c["end"], c["weekdays"]) for c in listed["closures"]] == [
        ("2027-01-01", "2027-01-01", 1), ("2027-02-08", "2027-02-12", 5)]
    verify = json.loads(invoke("calendar", "holidays", "verify", "--json").stdout)
    assert verify["ok"] and verify["package_horizon"] == "2026-12-31"
    info = json.loads(invoke("calendar", "info", "--json").stdout)
    assert info["authoritative_until"] == "2027-12-31"
    assert any(str(holiday_file) in source for source in info["sources"])


def test_without_the_file_past_the_horizon_one_line_names_the_fix(holiday_file):
    result = invoke("calendar", "sessions", "2027-01-01", "2027-02-28")
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert "past the horizon" in line and "aistock calendar holidays add" in line
    assert "AISTOCK_CALENDAR_PROVISIONAL=weekdays" in line and str(holiday_file) in line


def test_opted_in_provisional_days_are_answered_and_said_to_be_provisional(holiday_file, monkeypatch):
    from aistock_core.config import get_settings

    monkeypatch.setenv("AISTOCK_CALENDAR_PROVISIONAL", "weekdays")
    get_settings.cache_clear()
    result = invoke("calendar", "sessions", "2027-01-01", "2027-02-28")
    assert result.exit_code == 0, result.output
    # Estimate: New Year (Fri 1 Jan), Spring Festival eve (Fri 5 Feb) to the 7th lunar day (Fri 12 Feb).
    assert result.stdout.splitlines()[-1] == ("34 sessions, 7 closed weekdays (34 provisional: estimated, never for "
                                              "real orders)")
    nxt = invoke("calendar", "next", "2026-12-31")
    assert nxt.stdout.splitlines()[-1] == "next 1: 2027-01-04 (Monday) provisional"


def test_a_year_without_closures_and_refused_additions(holiday_file):
    saturday = invoke("calendar", "holidays", "add", "2027-01-02")
    assert saturday.exit_code == 2 and "Saturday" in saturday.stderr
    assert not holiday_file.exists(), "nothing written for a refused addition"
    gap = invoke("calendar", "holidays", "add", "2028-01-03")
    assert gap.exit_code == 2 and "2027 is missing before 2028" in gap.stderr and not holiday_file.exists()
    assert invoke("calendar", "holidays", "add", "--none").exit_code == 2
    marked = invoke("calendar", "holidays", "add", "--year", "2027", "--none", "--json")
    assert marked.exit_code == 0, marked.output
    assert json.loads(marked.stdout)["authoritative_until"] == "2027-12-31"
    days = json.loads(invoke("calendar", "sessions", "2027-01-01", "2027-12-31", "--json").stdout)
    assert len(days["sessions"]) == 261 and days["closed"] == []  # every weekday of 2027
    closing = invoke("calendar", "holidays", "add", "2027-01-01")
    assert closing.exit_code == 0, closing.output  # a later notice may still list closures


def test_verify_reports_problems_and_exits_2(holiday_file):
    holiday_file.parent.mkdir(parents=True)
    holiday_file.write_text("years: {2027: {closed: [{start: 2027-03-01}, {start: 2027-01-02}]}}\n")
    result = invoke("calendar", "holidays", "verify", "--json")
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert not report["ok"] and len(report["problems"]) == 2
    broken = invoke("calendar", "next", "2026-12-30")
    assert broken.exit_code == 2 and "holiday file" in broken.stderr and "Saturday" in broken.stderr


def test_qlib_future_calendar_is_honoured(tmp_path):
    (tmp_path / "calendars").mkdir()
    (tmp_path / "calendars" / "day.txt").write_text("2024-09-27\n2024-09-30\n")
    (tmp_path / "calendars" / "day_future.txt").write_text("2024-09-30\n2024-10-08\n2024-10-09\n")
    result = invoke("calendar", "next", "2024-09-30", "-n", "2", "--provider-uri", str(tmp_path), "--json")
    assert result.exit_code == 0, result.output
    assert [d["date"] for d in json.loads(result.stdout)["next"]] == ["2024-10-08", "2024-10-09"]

"""Trading-day partitions: keys are exactly the XSHG sessions; holiday keys are refused, also by the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from aistock_core.errors import CalendarError
from aistock_pipelines.partitions import (
    PARTITIONS_START,
    partition_calendar,
    partition_key,
    recent_partition_keys,
    trade_date,
    trading_days,
)

ROOT = Path(__file__).resolve().parents[2]


def test_keys_are_exactly_the_sessions():
    cal = partition_calendar()
    keys = trading_days.get_partition_keys()
    expected = cal.sessions_in_range(PARTITIONS_START, pd.Timestamp(keys[-1]))
    assert keys == [d.strftime("%Y-%m-%d") for d in expected]
    assert keys[0] == PARTITIONS_START
    assert pd.Timestamp(keys[-1]) <= cal.last, "no key past the calendar's horizon"


def test_holidays_and_weekends_are_not_keys():
    assert trading_days.has_partition_key("2026-09-30")
    assert trading_days.has_partition_key("2026-10-09")  # the Friday after National Day week
    for day in ("2026-10-01", "2026-10-05", "2026-10-03", "2024-02-12"):  # holidays and a Saturday
        assert not trading_days.has_partition_key(day), day


def test_trade_date_round_trip_and_refusals():
    assert trade_date("2026-09-30") == pd.Timestamp("2026-09-30")
    assert partition_key(pd.Timestamp("2026-09-30 15:00")) == "2026-09-30"
    with pytest.raises(CalendarError, match=r"2026-10-01 \(Thursday\) is not a trading day.*2026-09-30 before"):
        trade_date("2026-10-01")
    with pytest.raises(CalendarError, match="not a date"):
        trade_date("20261001")
    with pytest.raises(CalendarError, match="past the horizon"):
        partition_key(partition_calendar().last + pd.Timedelta(days=400))


def test_recent_partition_keys_count_trading_days():
    assert recent_partition_keys(3, "2026-10-08") == ["2026-09-29", "2026-09-30", "2026-10-08"]
    assert recent_partition_keys(1, "2026-10-04") == ["2026-09-30"], "a holiday 'today' means the last session"
    with pytest.raises(CalendarError, match="positive"):
        recent_partition_keys(0)


def test_cli_refuses_a_holiday_partition(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster"), "AISTOCK_HOME": str(tmp_path / "home")}
    (tmp_path / "dagster").mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "aistock_pipelines.definitions",
         "--select", "market_bars", "--partition", "2026-10-01"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode != 0
    assert "PartitionsDefinition containing the passed partition key `2026-10-01`" in proc.stderr
    assert not (tmp_path / "home" / "store").exists(), "nothing was written for the holiday"


@pytest.mark.clock
def test_partitions_follow_the_holiday_file_into_2027(tmp_path, faketime):
    """With 2027 in a holiday file, a listed-open 2027 day materialises and a listed-closed one is refused; the
    partitions of 2026 keep their keys."""
    holidays = tmp_path / "xshg_holidays.yaml"
    holidays.write_text("years:\n  2027:\n    closed:\n      - {start: 2027-01-01}\n"
                        "      - {start: 2027-01-05, note: a test closure}\n")
    (tmp_path / "dagster").mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster"), "AISTOCK_HOME": str(tmp_path / "home"),
           "AISTOCK_CALENDAR_HOLIDAYS": str(holidays), "AISTOCK_NOW": "2027-01-07 16:30",
           "AISTOCK_SYNTHETIC_INSTRUMENTS": "20", "AISTOCK_SYNTHETIC_START": "2026-11-02"}

    def materialize(day: str) -> subprocess.CompletedProcess:
        # Dagster offers time partitions up to its own clock: run it on 2027-01-07 too.
        return subprocess.run(
            [*faketime("2027-01-07 08:30:00"), sys.executable, "-m", "dagster", "asset", "materialize",
             "-m", "aistock_pipelines.definitions", "--select", "market_bars", "--partition", day],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
        )

    opened = materialize("2027-01-06")
    assert opened.returncode == 0, opened.stderr[-3000:]
    written = list((tmp_path / "home" / "store" / "market_bars").rglob("*.parquet"))
    assert [p.name for p in written] and all("2027-01-06" in str(p) or "20270106" in str(p) for p in written)
    bars = pd.read_parquet(written[0])
    assert bars.index.get_level_values("datetime").unique().tolist() == [pd.Timestamp("2027-01-06")]
    closed = materialize("2027-01-05")
    assert closed.returncode != 0
    assert "PartitionsDefinition containing the passed partition key `2027-01-05`" in closed.stderr
    assert len(list((tmp_path / "home" / "store" / "market_bars").rglob("*.parquet"))) == 1


def test_2026_keys_do_not_move_when_the_calendar_grows(tmp_path, monkeypatch):
    from aistock_core.config import get_settings
    from aistock_pipelines.partitions import _build_trading_days

    before = trading_days.get_partition_keys(current_time=pd.Timestamp("2026-12-31 16:00").to_pydatetime())
    monkeypatch.setenv("AISTOCK_CALENDAR_PROVISIONAL", "weekdays")
    get_settings.cache_clear()
    grown = _build_trading_days(partition_calendar(), PARTITIONS_START)
    after = grown.get_partition_keys(current_time=pd.Timestamp("2027-03-01 16:00").to_pydatetime())
    assert after[: len(before)] == before and after[len(before)] == "2027-01-04"


def test_first_partition_is_a_setting_else_about_a_year_back():
    from aistock_pipelines.partitions import first_partition

    assert first_partition("2019-03-04", pd.Timestamp("2026-11-16")) == "2019-03-04"
    assert first_partition(None, pd.Timestamp("2026-11-16 10:00")) == "2025-11-01"
    assert first_partition(None, pd.Timestamp("2027-01-05")) == "2026-01-01"

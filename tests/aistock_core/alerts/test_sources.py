"""The incident builders: each fires exactly past its threshold, with a key that identifies one incident."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

from aistock_core.alerts import Severity
from aistock_core.alerts.sources import (
    calendar_horizon_alert,
    daemon_heartbeat_alert,
    daily_loss_alert,
    expected_data_day,
    gateway_heartbeat_alert,
    position_mismatch_alert,
    run_failure_alert,
    stale_data_alert,
)
from aistock_core.calendar import TradingCalendar

NOW = datetime(2026, 11, 16, 10, 0, 0)


@pytest.fixture
def calendar() -> TradingCalendar:
    """Weekdays of Nov 2026 minus a made-up holiday on Wed 11th; authoritative to the end of November."""
    days = pd.bdate_range("2026-11-02", "2026-11-30").drop(pd.Timestamp("2026-11-11"))
    return TradingCalendar(days, "TEST")


def test_heartbeats():
    assert daemon_heartbeat_alert("SENSOR", datetime(2026, 11, 16, 9, 55), NOW, max_age_seconds=300) is None
    late = daemon_heartbeat_alert("SENSOR", datetime(2026, 11, 16, 9, 54, 59), NOW, max_age_seconds=300)
    assert late.key == "daemon_heartbeat:SENSOR" and late.severity is Severity.CRITICAL
    assert "301 s ago" in late.text
    never = gateway_heartbeat_alert("xtquant", None, NOW)
    assert never.key == "gateway_heartbeat:xtquant" and never.fields["last_heartbeat"] == "never"


def test_position_mismatch_lists_the_differing_codes_only():
    expected = {"600000.SH": 1000, "000001.SZ": 500, "300750.SZ": 200}
    actual = {"600000.SH": 1000, "000001.SZ": 400, "688981.SH": 200}
    alert = position_mismatch_alert("acct1", date(2026, 11, 16), expected, actual)
    assert alert.fields["instruments"] == "3" and alert.key == "position_mismatch:acct1:2026-11-16"
    assert "000001.SZ ours 500 vs broker 400" in alert.text and "688981.SH ours 0 vs broker 200" in alert.text
    assert "600000.SH" not in alert.text
    assert position_mismatch_alert("acct1", date(2026, 11, 16), expected, dict(expected)) is None
    assert position_mismatch_alert("a", date(2026, 11, 16), {"600000.SH": 100}, {"600000.SH": 99}, tolerance=1) is None


def test_daily_loss_fires_at_the_limit_where_the_risk_engine_halts():
    assert daily_loss_alert("acct1", date(2026, 11, 16), -19_999.0, 1_000_000.0, 0.02) is None
    alert = daily_loss_alert("acct1", date(2026, 11, 16), -20_000.0, 1_000_000.0, 0.02)  # exactly 2%: halts
    assert alert.key == "daily_loss:acct1:2026-11-16" and alert.fields["loss"] == "2.00%"
    assert daily_loss_alert("acct1", date(2026, 11, 16), 50_000.0, 1_000_000.0, 0.02) is None
    with pytest.raises(ValueError, match="start_equity"):
        daily_loss_alert("acct1", date(2026, 11, 16), -1.0, 0.0, 0.02)


def test_run_failure_is_keyed_by_job():
    a = run_failure_alert("market_eod", "r1", "boom\n", partition="2026-11-16", url="http://ui/runs/r1")
    b = run_failure_alert("market_eod", "r2", "")
    assert a.key == b.key == "run_failure:market_eod"
    assert a.fields == {"job": "market_eod", "run_id": "r1", "partition": "2026-11-16", "url": "http://ui/runs/r1"}
    assert a.text == "boom" and b.text == "no error message"


@pytest.mark.parametrize(("now", "expected"), [
    ("2026-11-16 10:00", "2026-11-13"),  # Monday morning: Friday's data
    ("2026-11-16 17:29", "2026-11-13"),
    ("2026-11-16 17:30", "2026-11-16"),  # after the EOD run is due: today's
    ("2026-11-12 09:00", "2026-11-10"),  # the day after the holiday: the session before it
    ("2026-11-14 12:00", "2026-11-13"),  # Saturday
])
def test_expected_data_day(calendar, now, expected):
    assert expected_data_day(calendar, pd.Timestamp(now)) == pd.Timestamp(expected)
    aware = pd.Timestamp(now).tz_localize("Asia/Shanghai").tz_convert("UTC")
    assert expected_data_day(calendar, aware) == pd.Timestamp(expected)


def test_stale_data_counts_missing_sessions(calendar):
    assert stale_data_alert("market_bars", date(2026, 11, 13), date(2026, 11, 13), calendar) is None
    one = stale_data_alert("market_bars", date(2026, 11, 12), date(2026, 11, 13), calendar)
    assert one.fields["missing_sessions"] == "1" and one.severity is Severity.WARNING
    assert one.key == "stale_data:market_bars:2026-11-13"
    three = stale_data_alert("market_bars", date(2026, 11, 9), date(2026, 11, 13), calendar)  # 10, 12, 13
    assert three.fields["missing_sessions"] == "3" and three.severity is Severity.CRITICAL
    none = stale_data_alert("market_bars", None, date(2026, 11, 4), calendar)
    assert none.fields["missing_sessions"] == "3" and none.fields["latest"] == "none"


def test_calendar_horizon(calendar):
    assert calendar_horizon_alert(calendar, date(2026, 10, 30)) is None  # 31 days left
    alert = calendar_horizon_alert(calendar, date(2026, 11, 16))
    assert alert.key == "calendar_horizon:TEST:2026-11-30" and alert.severity is Severity.WARNING
    assert alert.fields["sessions_left"] == "10"
    assert "14 days" in alert.text

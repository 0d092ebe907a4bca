"""End-of-day schedule: a run for the day's partition on trading days, a skip on holidays, loud past the horizon."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from aistock_core.errors import CalendarError
from aistock_pipelines.defs.data.schedules import market_eod_job, market_eod_schedule
from aistock_pipelines.partitions import trading_days

SH = ZoneInfo("Asia/Shanghai")


def _tick(*args) -> dg.RunRequest | dg.SkipReason:
    context = dg.build_schedule_context(scheduled_execution_time=datetime(*args, tzinfo=SH))
    return market_eod_schedule(context)


def test_trading_day_requests_that_days_partition():
    request = _tick(2026, 9, 30, 16, 30)
    assert isinstance(request, dg.RunRequest)
    assert request.partition_key == "2026-09-30" and request.run_key == "market_eod:2026-09-30"
    assert trading_days.has_partition_key(request.partition_key)


def test_holiday_is_skipped_with_a_reason():
    skip = _tick(2026, 10, 1, 16, 30)
    assert isinstance(skip, dg.SkipReason)
    assert "2026-10-01 (Thursday) is not a trading day" in skip.skip_message


def test_the_day_is_taken_in_shanghai_time():
    # 08:30 UTC on 30 Sep is 16:30 in Shanghai; the day must not shift when the tick arrives in UTC.
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 9, 30, 8, 30, tzinfo=ZoneInfo("UTC")))
    assert market_eod_schedule(context).partition_key == "2026-09-30"


def test_past_the_horizon_fails_loudly():
    with pytest.raises(CalendarError, match="past the horizon"):
        _tick(2030, 1, 2, 16, 30)


def test_schedule_shape():
    assert market_eod_schedule.cron_schedule == "30 16 * * 1-5"
    assert market_eod_schedule.execution_timezone == "Asia/Shanghai"
    assert market_eod_schedule.job_name == market_eod_job.name == "market_eod"


def test_a_provisional_day_is_tagged(monkeypatch):
    from aistock_core.config import get_settings

    monkeypatch.setenv("AISTOCK_CALENDAR_PROVISIONAL", "weekdays")
    get_settings.cache_clear()
    request = _tick(2027, 1, 4, 16, 30)
    assert request.partition_key == "2027-01-04" and request.tags["aistock/calendar"] == "provisional"
    assert _tick(2026, 12, 31, 16, 30).tags["aistock/calendar"] == "authoritative"

"""The horizon warning remembered for the day: the same words as computing it, recomputed when an input moves."""

from __future__ import annotations

import pandas as pd
import pytest

from aistock_core.calendar import horizon_cache, xshg
from aistock_core.calendar.holidays import HolidayFile, HolidayYear, save_holidays
from aistock_core.config import get_settings

TODAY = pd.Timestamp("2026-12-20")  # inside the warning window of the package's 2026-12-31 horizon


@pytest.fixture
def counted(aistock_home, monkeypatch):
    """`xshg.horizon_warning` with a count of how often it really ran."""
    calls = []
    real = xshg.horizon_warning

    def counting(today):
        calls.append(today)
        return real(today)

    monkeypatch.setattr(xshg, "horizon_warning", counting)
    return calls


def test_the_cached_warning_is_the_computed_one_and_computed_once(counted):
    expected = xshg.horizon_warning(TODAY)
    counted.clear()
    first = horizon_cache.cached_horizon_warning(TODAY)
    second = horizon_cache.cached_horizon_warning(TODAY)
    assert first == second == expected and "ends on 2026-12-31" in first
    assert len(counted) == 1


def test_another_day_or_a_new_holiday_file_computes_again(counted):
    quiet = horizon_cache.cached_horizon_warning(pd.Timestamp("2026-06-01"))
    assert quiet is None
    warned = horizon_cache.cached_horizon_warning(TODAY)
    assert warned is not None and len(counted) == 2
    save_holidays(get_settings().holidays_file, HolidayFile(years={2027: HolidayYear(notice="none")}))
    after = horizon_cache.cached_horizon_warning(TODAY)
    assert len(counted) == 3 and after is None  # 2027 listed: the horizon is 2027-12-31


def test_a_corrupt_or_unwritable_cache_is_ignored(counted):
    cache = get_settings().home / "cache" / horizon_cache.CACHE_NAME
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text("{not json")
    assert horizon_cache.cached_horizon_warning(TODAY) is not None and len(counted) == 1
    cache.unlink()
    cache.mkdir()  # a folder where the file should be: reading and writing both fail
    assert horizon_cache.cached_horizon_warning(TODAY) is not None and len(counted) == 2

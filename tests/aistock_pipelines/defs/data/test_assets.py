"""Market assets on a tiny synthetic market: Parquet partitions, ledger rows, metadata, idempotent re-runs."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest
from sqlalchemy import select

from aistock_core.calendar import xshg_calendar
from aistock_core.config import get_settings
from aistock_core.data.bars import bars_summary, day_bars, instrument_table
from aistock_core.data.factory import build_service
from aistock_core.data.store import ParquetStore, sha256_of
from aistock_core.db import Database
from aistock_core.db.models import BarPartition, Instrument
from aistock_pipelines.defs.data.assets import index_bars, instruments, market_bars
from aistock_pipelines.defs.data.checks import calendar_horizon, horizon_check_result
from aistock_pipelines.resources import default_resources

DATA_END = "2024-06-28"
DAY = "2024-06-27"


@pytest.fixture
def market(aistock_home, monkeypatch):
    """30 synthetic stocks, 2024-01-02..2024-06-28; returns (service, store, db)."""
    monkeypatch.setenv("AISTOCK_SYNTHETIC_INSTRUMENTS", "30")
    monkeypatch.setenv("AISTOCK_SYNTHETIC_START", "2024-01-02")
    monkeypatch.setenv("AISTOCK_SYNTHETIC_END", DATA_END)
    get_settings.cache_clear()
    settings = get_settings()
    db = Database(settings.sqlalchemy_url)
    yield build_service(settings), ParquetStore(settings.store_dir), db
    db.dispose()


def _run(assets, partition_key=None, **kw) -> dg.ExecuteInProcessResult:
    return dg.materialize(assets, partition_key=partition_key, resources=default_resources(), **kw)


def _ledger(db: Database) -> list[BarPartition]:
    with db.session() as s:
        return list(s.scalars(select(BarPartition).order_by(BarPartition.dataset)))


def test_market_bars_partition_is_stored_recorded_and_idempotent(market):
    service, store, db = market
    first = _run([market_bars], DAY)
    meta = first.asset_materializations_for_node("market_bars")[0].metadata
    expected = day_bars(service, pd.Timestamp(DAY))

    stored = store.read_partition("market_bars", DAY)
    pd.testing.assert_frame_equal(stored, expected, check_freq=False)
    path = store.partition_path("market_bars", DAY)
    assert meta["path"].value == str(path) and meta["sha256"].value == sha256_of(path)
    for name, value in bars_summary(expected).items():
        assert meta[name].value == value, name
    assert meta["rows"].value == len(service.instruments("all", at=DAY)) > 0
    assert expected.index.get_level_values("instrument")[0] in meta["preview"].value

    [row] = _ledger(db)
    assert (row.dataset, str(row.trade_date), row.rows, row.sha256) == ("market_bars", DAY, len(expected),
                                                                          meta["sha256"].value)
    again = _run([market_bars], DAY).asset_materializations_for_node("market_bars")[0].metadata
    assert again["sha256"].value == meta["sha256"].value, "same inputs, same bytes"
    assert [(r.dataset, r.sha256) for r in _ledger(db)] == [("market_bars", meta["sha256"].value)]


def test_index_bars_hold_the_two_indexes(market):
    _, store, db = market
    _run([index_bars], DAY)
    frame = store.read_partition("index_bars", DAY)
    assert sorted(frame.index.get_level_values("instrument")) == ["000001.SH", "000300.SH"]
    assert frame["close"].notna().all() and (frame["close"] > 0).all()
    assert [r.dataset for r in _ledger(db)] == ["index_bars"]


def test_instruments_asset_upserts_the_table(market):
    service, _, db = market
    _run([instruments])
    _run([instruments])
    with db.session() as s:
        rows = {r.code: r for r in s.scalars(select(Instrument))}
    expected = instrument_table(service)
    assert set(rows) == set(expected["code"]) and {"000300.SH", "000001.SH"} <= set(rows)
    assert rows["000300.SH"].board == "index"
    assert all(r.source == service.provider.name for r in rows.values())


def test_a_day_past_the_data_fails_and_writes_nothing(market):
    _, store, db = market
    day_after = xshg_calendar().next(DATA_END).strftime("%Y-%m-%d")
    result = _run([market_bars], day_after, raise_on_error=False)
    assert not result.success
    error = result.get_step_failure_events()[0].step_failure_data.error
    assert error.cause is not None and error.cause.cls_name == "DataError"
    assert "outside the data" in error.cause.message and day_after in error.cause.message
    assert store.partitions("market_bars") == [] and _ledger(db) == []


def test_calendar_horizon_check_runs_once_with_the_instrument_table_not_per_bar_partition(market):
    assert not _run([market_bars, calendar_horizon], DAY).get_asset_check_evaluations()
    result = _run([instruments, calendar_horizon])
    [evaluation] = result.get_asset_check_evaluations()
    assert evaluation.asset_check_key.name == "calendar_horizon"
    assert evaluation.severity == dg.AssetCheckSeverity.WARN
    assert evaluation.passed, "pinned today (2026-11-16) is 45 days from the horizon: no warning"


def test_horizon_check_warns_inside_30_days():
    cal = xshg_calendar()
    near = horizon_check_result(cal, cal.last - pd.Timedelta(days=10))
    assert not near.passed and near.severity == dg.AssetCheckSeverity.WARN
    assert near.metadata["days_left"].value == 10 and "ends on" in near.description
    far = horizon_check_result(cal, cal.last - pd.Timedelta(days=90))
    assert far.passed and far.metadata["days_left"].value == 90


def test_horizon_check_names_provisional_days_and_a_due_reload(monkeypatch):
    monkeypatch.setenv("AISTOCK_CALENDAR_PROVISIONAL", "weekdays")
    get_settings.cache_clear()
    cal = xshg_calendar()
    result = horizon_check_result(cal, pd.Timestamp("2026-12-20"), partitions_last=pd.Timestamp("2026-12-31"))
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert "provisional sessions 2027-01-04..2027-12-31 are in use" in result.description
    assert "reload the code location" in result.description
    assert result.metadata["provisional_sessions"].value == "2027-01-04..2027-12-31"
    quiet = horizon_check_result(cal, pd.Timestamp("2026-10-01"), partitions_last=cal.last)
    assert quiet.passed and quiet.metadata["authoritative_until"].value == "2026-12-31"

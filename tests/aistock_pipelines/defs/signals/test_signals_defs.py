"""The signals box through Dagster: trading_signals from a stored target_positions partition, the evening
performance_report (metadata and DB rows, repeatable), and the 08:00 / 18:00 schedules' trading-day skips."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest
from sqlalchemy import func, select

from aistock_core.db.models.preview import PreviewPosition
from aistock_core.db.models.signals import PerformanceReportRow
from aistock_core.preview.engine import SignalPreviewEngine
from aistock_core.preview.instances import create_instance
from aistock_core.preview.settle import settle
from aistock_core.signals.store import SignalStore
from aistock_pipelines.definitions import defs
from aistock_pipelines.defs.signals.schedules import evaluation_schedule, signals_schedule
from aistock_pipelines.resources import DatabaseResource, DataServiceResource, StoreResource

D1, D2 = "2024-04-02", "2024-04-03"


@pytest.fixture
def resources(aistock_home, tmp_path):
    return {
        "data": DataServiceResource(data_source="synthetic", synthetic_seed=3, synthetic_instruments=30),
        "database": DatabaseResource(url=f"sqlite:///{tmp_path / 'app.db'}"),
        "store": StoreResource(root=str(tmp_path / "store")),
    }


def test_signals_and_evening_report(resources):
    db, service = resources["database"].get_db(), resources["data"].get_service()
    stocks = [c for c in service.instruments("all") if not c.endswith(".BJ")]
    inst = create_instance(db, "dg", 1e6)
    SignalPreviewEngine(db, service, lambda i, d: pd.Series(0.15, index=stocks[:6])).run(D1)
    settle(db, service, D1)
    targets = pd.DataFrame({"weight": 0.15}, index=pd.Index(stocks[3:9], name="instrument"))
    resources["store"].get_store().write_partition("target_positions", D1, targets)
    assets = [defs.get_assets_def("trading_signals"), defs.get_assets_def("performance_report")]

    first = dg.materialize(assets[:1], resources=resources, partition_key=D2)
    meta = first.asset_materializations_for_node("trading_signals")[0].metadata
    frame = SignalStore(db).frame(D2)
    assert meta["generated"].value == len(frame) and meta["refused_transitions"].value == 0
    rejected = frame[frame["state"] == "rejected"]
    assert set(frame["state"]) <= {"validated", "rejected"}  # a name with no price or no lot is rejected
    assert (rejected["suggested_price"].isna() | (rejected["suggested_quantity"] == 0)).all()
    with db.session() as s:
        held = set(s.scalars(select(PreviewPosition.symbol).where(PreviewPosition.trading_day == pd.Timestamp(D1)
                                                                  .date(), PreviewPosition.volume > 0)))
    kinds = frame.groupby("signal_type")["symbol"].agg(set)
    assert kinds["exit"] == held - set(targets.index) and kinds["entry"] == set(targets.index) - held

    SignalPreviewEngine(db, service, lambda i, d: targets["weight"]).run(D2)
    settle(db, service, D2)
    for _ in range(2):
        result = dg.materialize(assets[1:], resources=resources, partition_key=D2)
        meta = result.asset_materializations_for_node("performance_report")[0].metadata
        assert meta["instances"].value == 1 and f"preview-{inst.id} (dg)" in meta["report"].value
        assert "data:image/png;base64," in meta["nav_plot"].value
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(PerformanceReportRow)) == 1
        row = s.scalar(select(PerformanceReportRow))
    assert row.sessions == 2 and row.figures["performance"]["sessions"] == 2
    assert set(SignalStore(db).frame(D2)["state"]) <= {"executed", "rejected", "expired"}


@pytest.mark.parametrize(("schedule", "hour"), [(signals_schedule, 8), (evaluation_schedule, 18)])
def test_schedules_run_on_trading_days_only(schedule, hour):
    name = schedule.name
    assert schedule.execution_timezone == "Asia/Shanghai" and schedule.description
    for day, open_ in (("2024-04-03", True), ("2024-04-04", False), ("2024-04-06", False)):
        moment = pd.Timestamp(f"{day} {hour:02d}:00", tz="Asia/Shanghai").to_pydatetime()
        out = schedule(dg.build_schedule_context(scheduled_execution_time=moment))
        if open_:
            assert out.partition_key == day and out.run_key == f"{name}:{day}"
        else:
            assert isinstance(out, dg.SkipReason) and "not a trading day" in out.skip_message

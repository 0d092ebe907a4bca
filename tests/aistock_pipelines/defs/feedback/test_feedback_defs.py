"""Feedback through Dagster: the day's LiveFeedback (with the week roll on a Friday) and its blocking check, the
optimizer's pending proposals, and the 22:00 trading-day schedule."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pandas as pd
import pytest
from sqlalchemy import text

from aistock_core.preview.engine import SignalPreviewEngine
from aistock_core.preview.instances import create_instance
from aistock_core.preview.settle import settle
from aistock_pipelines.defs.feedback.assets import live_feedback, optimizer_proposals
from aistock_pipelines.defs.feedback.checks import live_feedback_reconciles
from aistock_pipelines.defs.feedback.schedules import feedback_schedule
from aistock_pipelines.resources import DatabaseResource, DataServiceResource
from tests.aistock_core.preview.conftest import rotating_targets

FRIDAY = "2024-04-12"


@pytest.fixture
def resources(aistock_home, tmp_path):
    return {
        "data": DataServiceResource(data_source="synthetic", synthetic_seed=3, synthetic_instruments=30),
        "database": DatabaseResource(url=f"sqlite:///{tmp_path / 'app.db'}"),
    }


@pytest.fixture
def ids(resources):
    """Two preview instances traded and settled from March to FRIDAY."""
    db, service = resources["database"].get_db(), resources["data"].get_service()
    made = [create_instance(db, name, 1e6).id for name in ("a", "b")]
    engine = SignalPreviewEngine(db, service, rotating_targets(service))
    for day in service.calendar.sessions_in_range("2024-03-01", FRIDAY):
        engine.run(day, ids=made)
        settle(db, service, day)
    return made


def test_live_feedback_check_and_proposals(resources, ids, aistock_home, monkeypatch):
    db = resources["database"].get_db()
    result = dg.materialize([live_feedback, live_feedback_reconciles, optimizer_proposals], resources=resources,
                            partition_key=FRIDAY)
    assert result.success
    (check,) = result.get_asset_check_evaluations()
    assert check.passed and check.metadata["files"].value == 4  # two instances × (day, week)
    meta = result.asset_materializations_for_node("live_feedback")[0].metadata
    assert meta["files"].value == 4
    week = aistock_home / "feedback" / f"preview-{ids[0]}" / "week" / "2024-04-08_2024-04-12.json"
    assert json.loads(week.read_text())["period"]["sessions"] == 5
    proposals = result.asset_materializations_for_node("optimizer_proposals")[0].metadata
    assert proposals["pending"].value == proposals["proposals"].value  # nothing applied by default
    with db.engine.connect() as conn:
        assert conn.scalar(text("SELECT COUNT(*) FROM feedback_param_versions")) == 0

    # A builder that got one figure wrong (simulated: the file is altered after writing) must be caught.
    from aistock_pipelines.defs.feedback import assets

    def wrong_publish(*args, **kwargs):
        done = assets_publish(*args, **kwargs)
        doc = json.loads(done.path.read_text())
        doc["performance"]["total_return"] += 1e-4
        done.path.write_text(json.dumps(doc))
        return done

    assets_publish = assets.publish
    monkeypatch.setattr(assets, "publish", wrong_publish)
    failed = dg.materialize([live_feedback, live_feedback_reconciles], resources=resources, partition_key=FRIDAY,
                            raise_on_error=False)
    (check,) = failed.get_asset_check_evaluations()
    assert not check.passed and check.metadata["disagreeing"].value == 4
    assert "performance.total_return" in check.metadata["worst"].value

def test_auto_apply_still_goes_through_an_approval_row(resources, ids, monkeypatch):
    from aistock_core.config import get_settings

    monkeypatch.setenv("AISTOCK_OPTIMIZER_AUTO_APPLY", "true")
    get_settings.cache_clear()
    result = dg.materialize([optimizer_proposals], resources=resources, partition_key=FRIDAY)
    meta = result.asset_materializations_for_node("optimizer_proposals")[0].metadata
    assert meta["proposals"].value > 0 and meta["pending"].value == 0
    with resources["database"].get_db().engine.connect() as conn:
        decisions = conn.execute(text("SELECT decided_by, decision FROM feedback_decisions")).all()
        unbacked = conn.scalar(text("SELECT COUNT(*) FROM feedback_param_versions v LEFT JOIN feedback_decisions d "
                                    "ON d.id = v.decision_id WHERE v.version > 1 AND d.id IS NULL"))
    assert len(decisions) == meta["proposals"].value and set(decisions) == {("auto", "approved")}
    assert unbacked == 0


def _tick(*args):
    return feedback_schedule(dg.build_schedule_context(
        scheduled_execution_time=datetime(*args, tzinfo=ZoneInfo("Asia/Shanghai"))))


def test_schedule_runs_at_22_on_trading_days_only():
    request = _tick(2026, 9, 30, 22, 0)
    assert isinstance(request, dg.RunRequest) and request.partition_key == "2026-09-30"
    assert request.run_key == "feedback_nightly:2026-09-30"
    skip = _tick(2026, 10, 1, 22, 0)
    assert isinstance(skip, dg.SkipReason) and "not a trading day" in skip.skip_message
    assert feedback_schedule.cron_schedule == "0 22 * * 1-5" and feedback_schedule.execution_timezone == \
        "Asia/Shanghai"
    assert feedback_schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert pd.Timestamp(request.partition_key).dayofweek < 5

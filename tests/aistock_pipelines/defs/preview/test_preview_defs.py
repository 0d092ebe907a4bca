"""Preview through Dagster: the minute sensor's slots and skips, the refresh job, the settlement and its check."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest
from sqlalchemy import text

from aistock_core.preview.engine import SignalPreviewEngine
from aistock_core.preview.instances import create_instance
from aistock_pipelines.definitions import defs
from aistock_pipelines.defs.preview.assets import preview_refresh_job, preview_settlement
from aistock_pipelines.defs.preview.checks import preview_values_reconcile
from aistock_pipelines.defs.preview.sensors import refresh_request
from aistock_pipelines.resources import DatabaseResource, DataServiceResource
from tests.aistock_core.preview.conftest import rotating_targets

DAY = "2024-04-01"


@pytest.fixture
def resources(aistock_home, tmp_path):
    return {
        "data": DataServiceResource(data_source="synthetic", synthetic_seed=3, synthetic_instruments=30),
        "database": DatabaseResource(url=f"sqlite:///{tmp_path / 'app.db'}"),
    }


def _tick(instance, stamp: str):
    return refresh_request(dg.build_sensor_context(instance=instance), pd.Timestamp(stamp, tz="Asia/Shanghai"))


def test_sensor_runs_once_per_minute_slot_in_sessions_only():
    with dg.instance_for_test() as instance:
        first = _tick(instance, "2024-04-01 10:15:05")
        again = _tick(instance, "2024-04-01 10:15:55")
        assert isinstance(first, dg.RunRequest) and first.run_key == again.run_key == "preview_refresh:2024-04-01 10:15"
        assert first.run_config == {"ops": {"preview_refresh_op": {"config": {"at": "2024-04-01 10:15"}}}}
        assert _tick(instance, "2024-04-01 10:16:00").run_key == "preview_refresh:2024-04-01 10:16"
        for outside in ("2024-04-01 12:00", "2024-04-01 09:29", "2024-04-01 15:01", "2024-04-04 10:00",
                        "2024-04-06 10:00"):
            assert isinstance(_tick(instance, outside), dg.SkipReason), outside


def test_sensor_skips_a_slot_while_a_refresh_is_still_running():
    with dg.instance_for_test() as instance:
        instance.create_run_for_job(preview_refresh_job, run_config={"ops": {"preview_refresh_op": {
            "config": {"at": "2024-04-01 10:14"}}}}, status=dg.DagsterRunStatus.STARTED)
        skip = _tick(instance, "2024-04-01 10:15:05")
        assert isinstance(skip, dg.SkipReason) and "still in progress" in skip.skip_message


def test_refresh_job_settlement_and_blocking_check(resources):
    db, service = resources["database"].get_db(), resources["data"].get_service()
    a = create_instance(db, "a", 1e6)
    SignalPreviewEngine(db, service, rotating_targets(service)).run(DAY)
    job = defs.resolve_job_def("preview_refresh_job")
    run = job.execute_in_process(run_config={"ops": {"preview_refresh_op": {"config": {"at": f"{DAY} 10:30"}}}},
                                 resources=resources)
    assert run.success
    with db.engine.connect() as conn:
        assert conn.scalar(text("SELECT refreshed_at FROM preview_account")).startswith(f"{DAY} 10:30")

    result = dg.materialize([preview_settlement, preview_values_reconcile], resources=resources, partition_key=DAY)
    assert result.success
    (check,) = result.get_asset_check_evaluations()
    assert check.passed and check.metadata["instances"].value == 1
    meta = result.asset_materializations_for_node("preview_settlement")[0].metadata
    assert meta["instances"].value == 1 and "data:image/png;base64," in meta["nav_plot"].value

    # A trade row that no longer matches the books (a fee changed by 2 cents) must block the settlement.
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE preview_trade SET fee = fee + 0.02 WHERE id = (SELECT MIN(id) FROM preview_trade "
                          "WHERE preview_id = :i AND status = 'filled')"), {"i": a.id})
    failed = dg.materialize([preview_settlement, preview_values_reconcile], resources=resources, partition_key=DAY,
                            raise_on_error=False)
    (check,) = failed.get_asset_check_evaluations()
    assert not check.passed and check.metadata["mismatches"].value == 1

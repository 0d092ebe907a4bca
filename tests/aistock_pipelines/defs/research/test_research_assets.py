"""The research multi-asset and the incremental sensor, run for real against an export and the HTTP peer."""

from __future__ import annotations

import sqlite3

import dagster as dg
from sqlalchemy import select

from aistock_core.db import Database
from aistock_core.db.models.research import ResearchLoop
from aistock_pipelines.defs.research.assets import ASSET_TABLES, RDAgentSourceResource, research_catalog_sync
from aistock_pipelines.defs.research.sensors import research_incremental_sensor
from aistock_pipelines.resources import DatabaseResource


def _materialize(db_url: str, source: str | None, incremental: bool = False) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [research_catalog_sync],
        resources={"database": DatabaseResource(url=db_url), "rdagent": RDAgentSourceResource(source=source)},
        run_config={"ops": {"research_catalog_sync": {"config": {"incremental": incremental}}}},
    )


def _metadata(result: dg.ExecuteInProcessResult) -> dict[str, dict]:
    return {m.asset_key.path[-1]: m.metadata for m in result.asset_materializations_for_node("research_catalog_sync")}


def test_assets_report_counts_changes_and_top_loops(db_url, aistock_home, export_dir):
    first = _metadata(_materialize(db_url, str(export_dir)))
    assert set(first) == set(ASSET_TABLES)
    assert first["factor_catalog"]["new"].value == 25 and first["loop_catalog"]["new"].value > 5
    assert "| factors | 25 | 0 | 0 | 0 |" in first["factor_catalog"]["counts"].value
    top = first["loop_catalog"]["top_loops_by_ir"].value
    assert top.splitlines()[0].startswith("| task_run_id") and len(top.splitlines()) == 2 + 5
    assert "new bundles" in first["bundles"]["what_changed"].value
    assert (aistock_home / "research" / "blobs").is_dir()
    second = _metadata(_materialize(db_url, str(export_dir)))
    assert all(m["new"].value == m["changed"].value == m["removed"].value == 0 for m in second.values())
    assert second["loop_catalog"]["what_changed"].value == "nothing changed"


def test_default_source_is_the_demo_export_generated_on_first_use(aistock_home, monkeypatch):
    monkeypatch.setenv("AISTOCK_SYNTHETIC_INSTRUMENTS", "30")
    monkeypatch.setenv("AISTOCK_SYNTHETIC_START", "2024-06-03")
    from aistock_core.config import get_settings

    get_settings.cache_clear()
    result = _materialize(f"sqlite:///{aistock_home / 'a.db'}", None)
    assert result.success
    assert (aistock_home / "demo_export" / "RDagentDB" / "registry.sqlite").is_file()
    assert _metadata(result)["loop_catalog"]["source"].value == str(aistock_home / "demo_export")


def test_sensor_launches_only_when_the_registry_changed(tmp_path, aistock_home, peer, export_dir):
    db_url = f"sqlite:///{tmp_path / 'app.db'}"
    resources = {"rdagent": RDAgentSourceResource(source=peer.url), "database": DatabaseResource(url=db_url)}
    with dg.build_sensor_context(resources=resources) as ctx:
        fresh = research_incremental_sensor(ctx)
    assert isinstance(fresh, dg.SensorResult) and len(fresh.run_requests) == 1
    assert fresh.run_requests[0].run_config["ops"]["research_catalog_sync"]["config"] == {"incremental": True}

    _materialize(db_url, peer.url)  # synced: the DB cursor is now the newest loop
    with dg.build_sensor_context(resources=resources) as ctx:
        assert isinstance(research_incremental_sensor(ctx), dg.SkipReason)
    cursor = fresh.cursor
    assert cursor.endswith("+00:00")
    with dg.build_sensor_context(resources=resources, cursor=cursor) as ctx:
        assert isinstance(research_incremental_sensor(ctx), dg.SkipReason)

    later = cursor.replace("+00:00", "") + "5+00:00"
    with sqlite3.connect(export_dir / "RDagentDB" / "registry.sqlite") as conn:
        conn.execute("UPDATE loops SET updated_at_utc=?, sync_status='synced' WHERE rowid=1", (later,))
    with dg.build_sensor_context(resources=resources, cursor=cursor) as ctx:
        changed = research_incremental_sensor(ctx)
    assert isinstance(changed, dg.SensorResult) and changed.cursor == later
    assert changed.run_requests[0].run_key == f"research-incremental-{later}"
    result = _materialize(db_url, peer.url, incremental=True)
    assert _metadata(result)["loop_catalog"]["changed"].value == 1
    with Database(db_url).session() as s:
        assert "synced" in set(s.scalars(select(ResearchLoop.sync_status)))


def test_research_state_records_what_a_trading_day_ran_on(db_url, aistock_home, export_dir):
    """Before a sync the day's state is empty; after it, the live bundles, models and factor code with their hashes
    (read back from the DB independently) and one fingerprint that a re-sync of the same research keeps."""
    from aistock_core.db.models.research import ResearchBundle, ResearchFactorCode
    from aistock_pipelines.defs.research.assets import research_state

    def state(day: str) -> dict:
        result = dg.materialize([research_state], partition_key=day,
                                resources={"database": DatabaseResource(url=db_url)})
        [mat] = result.asset_materializations_for_node("research__research_state")
        return mat.metadata

    empty = state("2026-11-16")
    assert empty["bundles"].value == 0 and empty["synced_at"].value == "never synced"
    _materialize(db_url, str(export_dir))
    first = state("2026-11-16")
    db = Database(db_url)
    with db.session() as s:
        bundles = {b.asset_bundle_id: b.content_hash for b in s.scalars(select(ResearchBundle))}
        code = {f"{c.task_id}/{c.factor_name}": c.code_sha256 for c in s.scalars(select(ResearchFactorCode))}
    db.dispose()
    entries = first["entries"].value
    assert bundles and entries["bundles"] == bundles and entries["factor_code"] == code
    assert first["sync_run"].value >= 1 and first["fingerprint"].value != empty["fingerprint"].value
    _materialize(db_url, str(export_dir))
    again = state("2026-11-17")
    assert again["fingerprint"].value == first["fingerprint"].value
    assert again["sync_run"].value > first["sync_run"].value

"""Sync from the demo export: over HTTP and from the directory, full and incremental, atomic on failure."""

from __future__ import annotations

import json
import sqlite3

import pytest
from sqlalchemy import MetaData, select

from aistock_core.db import Database
from aistock_core.db.models.research import ResearchFactorCode, ResearchLoopKpi, ResearchSyncRun, ResearchTaskFile
from aistock_core.errors import CatalogError
from aistock_core.research.client import HttpSource
from aistock_core.research.export_dir import ExportDirSource
from aistock_core.research.source import open_source
from aistock_core.research.sync import sync

VOLATILE = {"first_seen_at", "synced_at", "removed_at"}
DATA_TABLES_SKIP = {"research_sync_runs", "research_marks"}


def snapshot(db: Database) -> dict[str, list[tuple]]:
    """Every research table's rows (bookkeeping timestamps left out), sorted: comparable across DBs."""
    meta = MetaData()
    meta.reflect(db.engine)
    out = {}
    with db.engine.connect() as conn:
        for name, table in sorted(meta.tables.items()):
            if not name.startswith("research_") or name in DATA_TABLES_SKIP:
                continue
            cols = [c for c in table.columns if c.name not in VOLATILE]
            rows = [tuple(json.dumps(v, sort_keys=True, default=str) for v in r)
                    for r in conn.execute(select(*cols))]
            out[name] = sorted(rows)
    return out


def http(url: str) -> HttpSource:
    return HttpSource(url, timeout=5, retries=1, backoff=0.01)


def test_http_and_directory_give_identical_db_and_resync_changes_nothing(db_url, tmp_path, peer, export_dir):
    db_http = Database(db_url)
    db_dir = Database(f"sqlite:///{tmp_path / 'dir.db'}")
    with http(peer.url) as src:
        first = sync(db_http, src, tmp_path / "blobs_http")
    with ExportDirSource(export_dir) as src:
        sync(db_dir, src, tmp_path / "blobs_dir")
    snap = snapshot(db_http)
    assert snap == snapshot(db_dir)
    assert first.status == "ok" and not first.errors
    assert first.counts["factors"].new == 25 and first.counts["loops"].new == 5
    assert first.counts["alpha_factors"].new == 20
    assert first.counts["bundles"].new == 5 and first.counts["bundle_files"].new > 10
    assert first.counts["tasks"].new == 2 and first.counts["factor_code"].new >= 2
    assert first.cursor_after and first.cursor_after.endswith("+00:00")
    with http(peer.url) as src:
        second = sync(db_http, src, tmp_path / "blobs_http")
    assert not second.changed, {k: v.as_dict() for k, v in second.counts.items() if v.new or v.changed}
    assert snapshot(db_http) == snap
    # every read endpoint of the brief was used; nothing forbidden was
    paths = peer.paths()
    for prefix in ("/catalog/factors", "/catalog/strategies", "/catalog/loops", "/catalog/models", "/alpha158/meta",
                   "/alpha360/meta", "/catalog/incremental", "/artifacts/bundle/", "/tasks", "/loops/",
                   "/api/extractors/sota_factors/v2/"):
        assert any(p.startswith(prefix) for p in paths), prefix
    assert any(p.endswith("/summary") for p in paths) and any(p.endswith("/asset_bytes") for p in paths)
    assert not [p for p in paths if p.startswith(("/ops/", "/scheduler", "/llm-config"))]
    assert not [m for m, _ in peer.requests if m == "DELETE"]
    db_http.dispose()
    db_dir.dispose()


def test_stored_kpis_code_and_bundle_blobs(tmp_path, export_dir):
    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    blobs = tmp_path / "blobs"
    with open_source(export_dir) as src:
        sync(db, src, blobs)
    loops = json.loads((export_dir / "RDagentDB/aistock/loop_catalog.json").read_text())["loops"]
    with db.session() as s:
        kpis = {(k.run_id, k.loop_id, k.cost_basis): k for k in s.scalars(select(ResearchLoopKpi))}
        for loop in loops:
            wo = kpis[(loop["task_run_id"], loop["loop_id"], "without_cost")]
            wc = kpis[(loop["task_run_id"], loop["loop_id"], "with_cost")]
            m = loop["metrics"]
            assert wo.information_ratio == pytest.approx(m["1day.excess_return_without_cost.information_ratio"])
            assert wc.annualized_return == pytest.approx(m["1day.excess_return_with_cost.annualized_return"])
            assert wo.max_drawdown <= 0 and wc.max_drawdown <= 0 and wo.ic == pytest.approx(loop["ic"])
        task_kpis = [k for k in kpis.values() if k.scope == "task"]
        assert task_kpis and {k.cost_basis for k in task_kpis} == {"with_cost"}
        codes = s.scalars(select(ResearchFactorCode)).all()
        assert all("pd.read_hdf(\"daily_pv.h5\"" in c.source_code for c in codes)
        assert {c.origin.split(":")[0] for c in codes} == {"extractor_v2_aligned"}
        files = s.scalars(select(ResearchTaskFile)).all()
        assert {f.key for f in files} >= {"factor.py", "model_meta.json"}
        assert all((blobs / f.sha256[:2] / f.sha256).read_bytes().__len__() == f.size_bytes for f in files)


def test_incremental_pulls_only_new_loops_and_cursor_survives_plus_sign(db_url, tmp_path, peer, export_dir):
    db = Database(db_url)
    with http(peer.url) as src:
        full = sync(db, src, tmp_path / "b")
        nothing = sync(db, src, tmp_path / "b", incremental=True)
        assert not nothing.changed and nothing.cursor_after == full.cursor_after
        # RD-Agent solidifies one more loop state: bump a loop's sync_status and timestamp
        later = full.cursor_after.replace("+00:00", "") + "1+00:00"
        with sqlite3.connect(export_dir / "RDagentDB/registry.sqlite") as conn:
            conn.execute("UPDATE loops SET sync_status='synced', updated_at_utc=? WHERE loop_id=0 AND action='factor' "
                         "AND rowid=(SELECT min(rowid) FROM loops)", (later,))
        inc = sync(db, src, tmp_path / "b", incremental=True)
    assert inc.counts["loops"].changed == 1 and inc.counts["loops"].new == 0
    assert inc.cursor_after == later
    with db.session() as s:
        runs = s.scalars(select(ResearchSyncRun).order_by(ResearchSyncRun.id)).all()
    assert [r.mode for r in runs] == ["full", "incremental", "incremental"]
    # an incremental update yields the same rows a full sync would
    full_db = Database(f"sqlite:///{tmp_path / 'full.db'}")
    with http(peer.url) as src:
        sync(full_db, src, tmp_path / "b")
    assert snapshot(full_db)["research_loops"] == snapshot(db)["research_loops"]
    db.dispose()


def test_catalog_vanishing_mid_sync_leaves_db_untouched(db_url, tmp_path, peer):
    db = Database(db_url)
    with http(peer.url) as src:
        sync(db, src, tmp_path / "b")
        before = snapshot(db)
        (peer.root / "RDagentDB/aistock/factor_catalog.json").write_text(
            (peer.root / "RDagentDB/aistock/factor_catalog.json").read_text().replace('"KLEN"', '"KLEN2"'))
        peer.fault("/catalog/models", "status", 404)  # the exporter is rewriting it
        with pytest.raises(CatalogError, match="models catalog is missing"):
            sync(db, src, tmp_path / "b")
    assert snapshot(db) == before
    with db.session() as s:
        last = s.scalars(select(ResearchSyncRun).order_by(ResearchSyncRun.id.desc())).first()
    assert last.status == "failed" and "models" in last.errors[0]
    db.dispose()


def test_removed_entries_are_flagged_not_deleted(tmp_path, export_dir):
    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    with ExportDirSource(export_dir) as src:
        sync(db, src, tmp_path / "b")
        path = export_dir / "RDagentDB/aistock/strategy_catalog.json"
        data = json.loads(path.read_text())
        gone = data["strategies"].pop()["strategy_id"]
        path.write_text(json.dumps(data))
        report = sync(db, src, tmp_path / "b")
    assert report.counts["strategies"].removed == 1 and report.counts["strategies"].sample["removed"] == [gone]
    assert report.counts["factors"].unchanged == 25


def test_extractor_500_is_recorded_and_the_rest_synced(tmp_path, peer):
    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    with http(peer.url) as src:
        task_id = src.tasks()["items"][0]["task_id"]
        peer.fault(f"/api/extractors/sota_factors/v2/{task_id}/aligned", "status", 500)
        report = sync(db, src, tmp_path / "b")
    assert report.status == "partial" and task_id in report.errors[0] and "HTTP 500" in report.errors[0]
    assert report.counts["loops"].new == 5
    with db.session() as s:
        assert task_id not in {c.task_id for c in s.scalars(select(ResearchFactorCode))}


def test_bad_entry_names_catalog_entry_and_field(tmp_path, export_dir):
    path = export_dir / "RDagentDB/aistock/loop_catalog.json"
    data = json.loads(path.read_text())
    data["loops"][1]["loop_id"] = "second"
    path.write_text(json.dumps(data))
    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    with ExportDirSource(export_dir) as src, pytest.raises(CatalogError) as err:
        sync(db, src, tmp_path / "b")
    assert "loops catalog entry #1" in str(err.value) and "'loop_id'" in str(err.value)
    assert snapshot(db)["research_loops"] == []


def test_incremental_brings_a_new_registry_loop_and_its_bundle_and_confirms(tmp_path, peer, export_dir):
    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    with http(peer.url) as src:
        full = sync(db, src, tmp_path / "b")
    reg = export_dir / "RDagentDB/registry.sqlite"
    bundles = export_dir / "RDagentDB/production_bundles"
    old_bid = sorted(p.name for p in bundles.iterdir())[0]
    new_bid = "0f0f0f0f-0000-4000-8000-000000000001"
    import shutil

    shutil.copytree(bundles / old_bid, bundles / new_bid)
    manifest = json.loads((bundles / new_bid / "manifest.json").read_text())
    (bundles / new_bid / "manifest.json").write_text(json.dumps({**manifest, "asset_bundle_id": new_bid,
                                                                 "loop_id": 99}))
    later = full.cursor_after.replace("+00:00", "") + "7+00:00"
    with sqlite3.connect(reg) as conn:
        trid = conn.execute("SELECT task_run_id FROM loops LIMIT 1").fetchone()[0]
        conn.execute("INSERT INTO loops (task_run_id, loop_id, action, status, has_result, metrics_json, "
                     "asset_bundle_id, is_solidified, sync_status, updated_at_utc) VALUES (?,?,?,?,?,?,?,?,?,?)",
                     (trid, 99, "factor", "success", 1, json.dumps([{"Unnamed: 0": "IC", "0": 0.07}]), new_bid, 1,
                      "pending", later))
        conn.execute("INSERT INTO factor_registry VALUES (?,?,?,?,?,?,?,?)",
                     ("new_alpha", "close/open", "{}", new_bid, "ws", trid, 99, later))
    with http(peer.url) as src:
        inc = sync(db, src, tmp_path / "b", incremental=True, confirm=True)
    assert inc.counts["loops"].new == 1 and inc.counts["bundles"].new == 1
    assert inc.counts["bundle_factors"].sample["new"] == [f"new_alpha/{new_bid}"]
    assert peer.requests.count(("POST", "/ops/sync-confirm")) == 1  # only the bundle this run stored
    with sqlite3.connect(reg) as conn:
        assert conn.execute("SELECT sync_status FROM loops WHERE loop_id=99").fetchone()[0] == "synced"
    with db.session() as s:
        kpi = s.get(ResearchLoopKpi, ("task_run", trid, 99, "without_cost"))
    assert kpi.ic == pytest.approx(0.07)  # from the legacy metrics form
    db.dispose()

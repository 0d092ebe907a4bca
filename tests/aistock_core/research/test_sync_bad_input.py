"""Bad or vanished input never changes stored research rows (issue 15, finding 3 and the sync's lesser items)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from aistock_core.db import Database
from aistock_core.db.models.research import ResearchArtifact, ResearchSyncRun, ResearchTask
from aistock_core.errors import CatalogError
from aistock_core.research.browse import list_entries
from aistock_core.research.export_dir import ExportDirSource
from aistock_core.research.sync import sync


def _snapshot():
    """test_sync.snapshot (tests/ has no packages: loaded by path)."""
    name = "aistock_research_test_sync"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("test_sync.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name].snapshot


@pytest.fixture
def synced(tmp_path, export_dir):
    """A DB after one good full sync of the export, and the export root."""
    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    with ExportDirSource(export_dir) as src:
        assert sync(db, src, tmp_path / "blobs").status == "ok"
    return db, export_dir


def _resync(db, export_dir, tmp_path, **options):
    with ExportDirSource(export_dir) as src:
        return sync(db, src, tmp_path / "blobs", **options)


CATALOG = "RDagentDB/aistock/factor_catalog.json"


@pytest.mark.parametrize("damage", ["truncated", "not_utf8", "wrong_type", "directory"])
def test_an_unreadable_catalog_fails_the_sync_naming_the_file(synced, tmp_path, damage):
    db, export_dir = synced
    path = export_dir / CATALOG
    before = _snapshot()(db)
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    elif damage == "not_utf8":
        path.write_bytes(b"\xff\xfe" + path.read_bytes())
    elif damage == "wrong_type":
        path.write_text(json.dumps([1, 2, 3]))
    else:
        path.unlink()
        path.mkdir()
    with pytest.raises(CatalogError) as err:
        _resync(db, export_dir, tmp_path)
    assert "factor_catalog.json" in str(err.value) and "exporters have not run" not in str(err.value)
    assert _snapshot()(db) == before


def test_a_vanished_registry_removes_nothing_without_allow_removals(synced, tmp_path):
    db, export_dir = synced
    (export_dir / "RDagentDB/registry.sqlite").unlink()
    before = _snapshot()(db)
    with pytest.raises(CatalogError, match=r"registry.*--allow-removals"):
        _resync(db, export_dir, tmp_path)
    assert _snapshot()(db) == before
    report = _resync(db, export_dir, tmp_path, allow_removals=True)  # said explicitly: now they go
    assert report.counts["artifacts"].removed > 0 and report.counts["bundle_factors"].removed > 0
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(ResearchArtifact)
                        .where(ResearchArtifact.removed_at.is_(None))) == 0


def test_vanished_task_snapshots_remove_nothing_without_allow_removals(synced, tmp_path):
    db, export_dir = synced
    tasks = export_dir / "RDagentDB/aistock/tasks"
    tasks.rename(tasks.with_name("tasks_gone"))
    before = _snapshot()(db)
    with pytest.raises(CatalogError, match="task snapshots"):
        _resync(db, export_dir, tmp_path)
    assert _snapshot()(db) == before


def test_a_per_task_read_error_leaves_that_tasks_rows_untouched(synced, tmp_path):
    db, export_dir = synced
    with db.session() as s:
        task_id = sorted(s.scalars(select(ResearchTask.task_id)))[0]
    (export_dir / "RDagentDB/aistock/tasks" / task_id / "summary.json").write_text("{ truncated")
    before = _snapshot()(db)
    report = _resync(db, export_dir, tmp_path)
    assert report.status == "partial" and task_id in report.errors[0]
    assert not report.changed
    assert _snapshot()(db) == before


def test_a_symlink_in_a_bundle_folder_fails_the_sync_and_pulls_nothing_in(tmp_path, export_dir):
    secret = tmp_path / "secret.txt"
    secret.write_text("outside the export")
    bundle = sorted((export_dir / "RDagentDB/production_bundles").iterdir())[0]
    (bundle / "innocent.txt").symlink_to(secret)
    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    with pytest.raises(CatalogError, match="symbolic link"):
        _resync(db, export_dir, tmp_path)
    assert not (tmp_path / "blobs").exists() or not any(
        p.read_bytes() == secret.read_bytes() for p in (tmp_path / "blobs").rglob("*") if p.is_file())


def test_confirm_from_a_directory_is_refused_before_anything_is_written(tmp_path, export_dir):
    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    with pytest.raises(CatalogError, match="sync-confirm needs the results API"):
        _resync(db, export_dir, tmp_path, confirm=True)
    assert all(rows == [] for rows in _snapshot()(db).values())
    with db.session() as s:
        assert s.scalars(select(ResearchSyncRun)).all() == []


@pytest.mark.parametrize("where", ["ann_ret>>0.1", "ann_ret>=<1", "ann_ret>high"])
def test_a_bad_filter_is_an_error_not_an_empty_list(synced, where):
    db, _ = synced
    with pytest.raises(CatalogError, match="filter"):
        list_entries(db, "loops", where=[where])

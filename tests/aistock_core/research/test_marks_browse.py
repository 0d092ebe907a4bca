"""Marks and browsing on SQLite and PostgreSQL: filters, sorting, KPIs by cost basis, marks surviving syncs."""

from __future__ import annotations

import json

import pytest

from aistock_core.db import Database
from aistock_core.errors import CatalogError
from aistock_core.research.browse import list_entries, show_entry, top_loops
from aistock_core.research.export_dir import ExportDirSource
from aistock_core.research.marks import clear_mark, list_marks, set_mark
from aistock_core.research.sync import sync


@pytest.fixture
def synced_db(db_url, tmp_path, export_dir) -> Database:
    db = Database(db_url)
    with ExportDirSource(export_dir) as src:
        sync(db, src, tmp_path / "blobs")
    yield db
    db.dispose()


def test_lists_filters_and_top_loops(synced_db):
    loops = list_entries(synced_db, "loops", sort="-ir")
    assert len(loops) == 5 and loops["ir"].is_monotonic_decreasing
    assert (loops["mdd"] <= 0).all() and (loops["mdd_wc"] <= 0).all()
    assert (loops["ann_ret_wc"] < loops["ann_ret"]).all()  # costs only ever lower the excess return
    factor_loops = list_entries(synced_db, "loops", where=["action=factor", "n_factors<=1"])
    assert set(factor_loops["n_factors"]) == {1} and set(factor_loops["action"]) == {"factor"}
    top = top_loops(synced_db, 3)
    assert list(top["ir"]) == list(loops["ir"].head(3))
    alpha = list_entries(synced_db, "factors", where=["source~alpha158", "name~cor"])
    assert set(alpha["name"]) == {"CORR5", "CORR10", "CORR20", "CORR60", "CORD5", "CORD10", "CORD60"}
    with pytest.raises(CatalogError, match="cannot parse filter"):
        list_entries(synced_db, "loops", where=["ir"])
    with pytest.raises(CatalogError, match="cannot sort by 'nope'"):
        list_entries(synced_db, "loops", sort="nope")


def test_marks_survive_a_resync_and_removed_entries_stay_listed_on_request(synced_db, tmp_path, export_dir):
    strategy = list_entries(synced_db, "strategies").iloc[0]["strategy_id"]
    set_mark(synced_db, "strategy", strategy, candidate="live", note="go", who="pm")
    set_mark(synced_db, "strategy", strategy, candidate="paper", note="not yet", who="pm")  # replaces
    [mark] = list_marks(synced_db, "strategy")
    assert (mark.candidate, mark.note, mark.marked_by) == ("paper", "not yet", "pm")
    path = export_dir / "RDagentDB/aistock/strategy_catalog.json"
    data = json.loads(path.read_text())
    data["strategies"] = [s for s in data["strategies"] if s["strategy_id"] != strategy]
    path.write_text(json.dumps(data))
    with ExportDirSource(export_dir) as src:
        sync(synced_db, src, tmp_path / "blobs")
    assert strategy not in set(list_entries(synced_db, "strategies")["strategy_id"])
    kept = list_entries(synced_db, "strategies", include_removed=True)
    assert kept.set_index("strategy_id").loc[strategy, "candidate"] == "paper"
    assert show_entry(synced_db, "strategies", strategy)["payload"]["strategy_id"] == strategy
    assert clear_mark(synced_db, "strategy", strategy) and not list_marks(synced_db)


def test_mark_rejects_unknown_entries_and_kinds(synced_db):
    with pytest.raises(CatalogError, match="no synced factor"):
        set_mark(synced_db, "factor", "no_such_factor")
    with pytest.raises(CatalogError, match="unknown mark kind"):
        set_mark(synced_db, "portfolio", "x")
    with pytest.raises(CatalogError, match="must be '<task_run_id>/<loop_id>'"):
        set_mark(synced_db, "loop", "abc")
    set_mark(synced_db, "factor", "KLEN", note="baseline")
    assert list_marks(synced_db)[0].candidate is None

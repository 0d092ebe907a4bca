"""`HttpSource` against the real peer: status codes, ok/success flags, retries, timeouts, bodies."""

from __future__ import annotations

import socket
import zipfile
from io import BytesIO

import pytest

from aistock_core.errors import CatalogError
from aistock_core.research.client import HttpSource
from aistock_core.research.export_dir import ExportDirSource
from aistock_core.research.source import NotFound, open_source


def client(url: str, **kw) -> HttpSource:
    return HttpSource(url, **{"timeout": 5, "retries": 1, "backoff": 0.01, **kw})


def test_every_read_endpoint_matches_the_directory_reader(peer, export_dir):
    d = ExportDirSource(export_dir)
    with client(peer.url) as h:
        for kind in ("factors", "strategies", "loops", "models"):
            assert h.catalog(kind) == d.catalog(kind)
        assert h.alpha_meta("alpha158") == d.alpha_meta("alpha158")
        assert h.factor("KLEN") == d.factor("KLEN") and h.factor("KLEN")["expression"] == "($high-$low)/$open"
        loop = d.catalog("loops")["loops"][0]
        arts = h.loop_artifacts(loop["task_run_id"], loop["loop_id"])
        assert {a["artifact_type"] for a in arts["artifacts"]} >= {"backtest_metrics", "factor_perf", "feedback"}
        assert h.loop_artifacts("nope", 3) == {"task_run_id": "nope", "loop_id": 3, "artifacts": []}
        inc = h.incremental(None, 100)
        assert inc["count"] == 5 and isinstance(inc["loops"][0]["metrics_json"], str)
        assert inc["loops"] == d.incremental(None, 100)["loops"]
        bid = loop["asset_bundle_id"]
        with zipfile.ZipFile(BytesIO(h.bundle(bid))) as zh, zipfile.ZipFile(BytesIO(d.bundle(bid))) as zd:
            assert sorted(zh.namelist()) == sorted(zd.namelist()) and "manifest.json" in zh.namelist()
        tasks = h.tasks()
        assert tasks["items"] == d.tasks()["items"] and len(tasks["items"]) == 2
        tid = tasks["items"][0]["task_id"]
        assert h.task_summary(tid) == d.task_summary(tid)
        assert h.task_loops(tid) == d.task_loops(tid)
        assert h.sota_aligned(tid) == d.sota_aligned(tid)
        body, origin = h.asset_bytes(tid, "model_meta.json")
        assert (body, origin) == d.asset_bytes(tid, "model_meta.json") and origin == "factor"


def test_not_found_answers(peer):
    with client(peer.url) as h:
        with pytest.raises(NotFound, match=r"alpha360_meta\.json not found"):
            h.alpha_meta("alpha360")
        with pytest.raises(NotFound, match="factor not found"):
            h.factor("no_such_factor")
        with pytest.raises(NotFound, match="task log dir not found"):
            h.task_summary("2020-01-01_00-00-00-000000")
        with pytest.raises(NotFound, match="key_not_found_in_file_dict"):
            h.asset_bytes(h.tasks()["items"][0]["task_id"], "params.pkl")
        with pytest.raises(NotFound, match="Bundle"):
            h.bundle("00000000-0000-0000-0000-000000000000")


def test_http_200_with_ok_false_is_an_error(peer):
    with client(peer.url) as h:
        tid = h.tasks()["items"][0]["task_id"]
        peer.fault(f"/tasks/{tid}/loops", "ok_false")
        with pytest.raises(CatalogError, match="ok=false: injected failure"):
            h.task_loops(tid)
        peer.fault(f"/api/extractors/sota_factors/v2/{tid}/aligned", "ok_false")
        with pytest.raises(CatalogError, match="success=false"):
            h.sota_aligned(tid)


def test_5xx_is_retried_then_succeeds(peer):
    peer.fault("/catalog/loops", "status", 503, times=2)
    with client(peer.url, retries=2) as h:
        assert h.catalog("loops")["loops"]
    assert peer.paths().count("/catalog/loops") == 3


def test_5xx_gives_up_after_retries(peer):
    peer.fault("/catalog/loops", "status", 500)
    with client(peer.url, retries=2) as h, pytest.raises(CatalogError, match=r"after 3 attempt\(s\): HTTP 500"):
        h.catalog("loops")


def test_4xx_is_not_retried(peer):
    with client(peer.url, retries=3) as h, pytest.raises(CatalogError, match="HTTP 422"):
        h._json("/loops/abc/notanint/artifacts")
    assert peer.paths().count("/loops/abc/notanint/artifacts") == 1


def test_malformed_json(peer):
    peer.fault("/catalog/factors", "malformed")
    with client(peer.url) as h, pytest.raises(CatalogError, match="malformed JSON"):
        h.catalog("factors")


def test_timeout(peer):
    peer.fault("/catalog/models", "sleep", 1.0)
    with client(peer.url, timeout=0.2, retries=1) as h, pytest.raises(CatalogError, match="timed out"):
        h.catalog("models")


def test_server_down():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with client(f"http://127.0.0.1:{port}", retries=2) as h, pytest.raises(
        CatalogError, match=r"failed after 3 attempt\(s\): connection failed"
    ):
        h.catalog("factors")


def test_sync_confirm_is_opt_in_and_directory_refuses(peer, export_dir):
    bid = ExportDirSource(export_dir).catalog("loops")["loops"][0]["asset_bundle_id"]
    with client(peer.url) as h:
        h.confirm_sync(bid)
    assert ("POST", "/ops/sync-confirm") in peer.requests
    rows = [r for r in ExportDirSource(export_dir).incremental(None)["loops"] if r["asset_bundle_id"] == bid]
    assert rows[0]["sync_status"] == "synced"
    with pytest.raises(CatalogError, match="sync-confirm needs the results API"):
        ExportDirSource(export_dir).confirm_sync(bid)


def test_open_source_dispatch(tmp_path, export_dir):
    assert isinstance(open_source("http://127.0.0.1:9"), HttpSource)
    assert isinstance(open_source(export_dir), ExportDirSource)
    assert isinstance(open_source(export_dir / "RDagentDB"), ExportDirSource)
    with pytest.raises(CatalogError, match="neither an http"):
        open_source(tmp_path / "missing")
    with pytest.raises(CatalogError, match="no RDagentDB"):
        ExportDirSource(tmp_path)

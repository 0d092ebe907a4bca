"""Bundle zips: traversal and size checks, content-addressed storage, and the sync's handling of bad bundles."""

from __future__ import annotations

import zipfile
from io import BytesIO

import pytest
from sqlalchemy import select

from aistock_core.db import Database
from aistock_core.db.models.research import ResearchBundle, ResearchBundleFile, ResearchSyncRun
from aistock_core.errors import CatalogError
from aistock_core.research.bundles import BlobStore, read_bundle
from aistock_core.research.client import HttpSource
from aistock_core.research.export_dir import ExportDirSource
from aistock_core.research.sync import sync


def make_zip(entries: dict[str, bytes]) -> bytes:
    buf = BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize("name", ["../evil.py", "a/../../evil.py", "/etc/passwd", "C:/x.py", "a\\..\\b.py"])
def test_traversal_entries_are_refused(name):
    with pytest.raises(CatalogError, match="refusing the bundle"):
        read_bundle("b1", make_zip({"ok.txt": b"x", name: b"y"}))


def test_size_limits_and_garbage():
    data = make_zip({"big.bin": b"0" * 2000})
    with pytest.raises(CatalogError, match="larger than 1000 bytes"):
        read_bundle("b1", data, max_entry_bytes=1000)
    with pytest.raises(CatalogError, match="more than 3000 bytes"):
        read_bundle("b1", make_zip({"a": b"0" * 2000, "b": b"0" * 2000}), max_total_bytes=3000)
    with pytest.raises(CatalogError, match="not a zip"):
        read_bundle("b1", b"PK-not-really")
    with pytest.raises(CatalogError, match="wrong bundle"):
        read_bundle("b1", make_zip({"manifest.json": b'{"asset_bundle_id": "b2"}'}))


def test_blob_store_is_content_addressed(tmp_path):
    bundle = read_bundle("b1", make_zip({"x/a.py": b"print(1)", "x/b.py": b"print(1)", "manifest.json": b"{}"}))
    assert len(bundle.blobs) == 2 and [f.path for f in bundle.files] == ["manifest.json", "x/a.py", "x/b.py"]
    store = BlobStore(tmp_path)
    shas = {store.put(data, sha) for sha, data in bundle.blobs.items()}
    assert shas == set(bundle.blobs)
    assert store.get(bundle.files[1].sha256) == b"print(1)" and bundle.text("x/b.py") == "print(1)"
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted(shas)


def test_sync_refuses_a_traversal_bundle_and_writes_nothing_outside(tmp_path, peer, export_dir):
    """A refused bundle fails the sync (issue 15: not 'partial' with exit 0): nothing stored, failure recorded."""
    bid = ExportDirSource(export_dir).catalog("loops")["loops"][0]["asset_bundle_id"]
    peer.fault(f"/artifacts/bundle/{bid}", "body", make_zip({"manifest.json": b"{}", "../../escape.py": b"x"}),
               times=1)
    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    with HttpSource(peer.url, retries=0) as src, pytest.raises(CatalogError, match="escapes the bundle") as err:
        sync(db, src, tmp_path / "blobs")
    assert bid in str(err.value)
    assert not list(tmp_path.rglob("escape.py"))
    with db.session() as s:
        assert not set(s.scalars(select(ResearchBundle.asset_bundle_id)))
        assert s.scalars(select(ResearchSyncRun.status)).all() == ["failed"]
    with HttpSource(peer.url, retries=0) as src:  # the bad bundle is fetched again next time, now clean
        again = sync(db, src, tmp_path / "blobs")
    with db.session() as s:
        files = s.scalars(select(ResearchBundleFile)).all()
    factor_files = [f for f in files if f.path.endswith("_factor.py")]
    assert factor_files
    text = (tmp_path / "blobs" / factor_files[0].sha256[:2] / factor_files[0].sha256).read_text()
    assert 'pd.read_hdf("daily_pv.h5"' in text and 'to_hdf("result.h5"' in text
    assert again.status == "ok" and again.counts["bundles"].new == 5

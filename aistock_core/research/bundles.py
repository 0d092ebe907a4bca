"""Production bundles (rdagent.md §6) and the content-addressed blob store that keeps their files.

A bundle zip comes from another machine, so every entry is checked before a byte is kept: no absolute paths,
no ``..``, no drive letters or backslashes (path traversal), a per-entry and a total size cap (zip bombs are
read with a bounded reader, not trusted by their declared size). Files are stored once per sha256 under
``AISTOCK_HOME/research/blobs/ab/abcd...``; writing a blob is an atomic rename and idempotent, so a blob
written by a sync that is later rolled back is merely unreferenced, never wrong.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from aistock_core.data.store import atomic_path
from aistock_core.errors import CatalogError

MAX_ENTRY_BYTES = 512 * 1024 * 1024
MAX_TOTAL_BYTES = 2 * 1024 * 1024 * 1024
MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class BundleFile:
    path: str
    sha256: str
    size_bytes: int


@dataclass
class Bundle:
    """A validated bundle: its manifest, its files, and their bytes keyed by sha256."""

    asset_bundle_id: str
    manifest: dict[str, Any]
    files: list[BundleFile]
    blobs: dict[str, bytes] = field(repr=False)

    @property
    def total_bytes(self) -> int:
        return sum(f.size_bytes for f in self.files)

    def text(self, path: str) -> str:
        """The decoded content of one bundle file (e.g. a factor.py)."""
        for f in self.files:
            if f.path == path:
                return self.blobs[f.sha256].decode("utf-8")
        raise CatalogError(f"bundle {self.asset_bundle_id} has no file {path!r}")


def _safe_name(bundle_id: str, name: str) -> str:
    """The entry's normalised relative path, or CatalogError for anything that could escape the bundle."""
    if "\\" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise CatalogError(f"bundle {bundle_id}: entry {name!r} has an absolute or Windows path; refusing the bundle")
    parts = PurePosixPath(name).parts
    if any(p == ".." for p in parts):
        raise CatalogError(f"bundle {bundle_id}: entry {name!r} escapes the bundle ('..'); refusing the bundle")
    clean = "/".join(p for p in parts if p not in ("", "."))
    if not clean:
        raise CatalogError(f"bundle {bundle_id}: entry {name!r} has an empty path; refusing the bundle")
    return clean


def read_bundle(
    asset_bundle_id: str,
    data: bytes,
    *,
    max_entry_bytes: int = MAX_ENTRY_BYTES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
) -> Bundle:
    """Validate and read a bundle zip entirely in memory; nothing is written here."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise CatalogError(f"bundle {asset_bundle_id}: not a zip file ({exc}); the download may be truncated") from None
    files: list[BundleFile] = []
    blobs: dict[str, bytes] = {}
    total = 0
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        if len(infos) > MAX_ENTRIES:
            raise CatalogError(f"bundle {asset_bundle_id}: {len(infos)} entries exceed the limit of {MAX_ENTRIES}")
        seen: set[str] = set()
        for info in infos:
            name = _safe_name(asset_bundle_id, info.filename)
            if name in seen:
                raise CatalogError(f"bundle {asset_bundle_id}: entry {name!r} appears twice; refusing the bundle")
            seen.add(name)
            with archive.open(info) as stream:
                content = stream.read(max_entry_bytes + 1)
            if len(content) > max_entry_bytes:
                raise CatalogError(
                    f"bundle {asset_bundle_id}: entry {name!r} is larger than {max_entry_bytes} bytes; refusing it"
                )
            total += len(content)
            if total > max_total_bytes:
                raise CatalogError(f"bundle {asset_bundle_id}: more than {max_total_bytes} bytes unpacked; refusing it")
            sha = hashlib.sha256(content).hexdigest()
            blobs[sha] = content
            files.append(BundleFile(name, sha, len(content)))
    files.sort(key=lambda f: f.path)
    manifest: dict[str, Any] = {}
    if any(f.path == "manifest.json" for f in files):
        sha = next(f.sha256 for f in files if f.path == "manifest.json")
        try:
            manifest = json.loads(blobs[sha])
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CatalogError(f"bundle {asset_bundle_id}: manifest.json is not JSON ({exc})") from None
        declared = manifest.get("asset_bundle_id")
        if declared not in (None, asset_bundle_id):
            raise CatalogError(f"bundle {asset_bundle_id}: manifest says asset_bundle_id={declared!r}; wrong bundle")
    return Bundle(asset_bundle_id, manifest, files, blobs)


class BlobStore:
    """Files by sha256 under ``root``: immutable, deduplicated, written by atomic rename."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_of(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes, sha256: str | None = None) -> str:
        sha = sha256 or hashlib.sha256(data).hexdigest()
        target = self.path_of(sha)
        if not target.is_file():
            with atomic_path(target) as tmp:
                tmp.write_bytes(data)
        return sha

    def get(self, sha256: str) -> bytes:
        path = self.path_of(sha256)
        if not path.is_file():
            raise CatalogError(f"blob {sha256} missing from {self.root}; re-run `aistock catalog sync`")
        return path.read_bytes()

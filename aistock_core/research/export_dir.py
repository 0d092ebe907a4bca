"""`ExportDirSource`: an RD-Agent export directory read the way the results API reads it (rdagent.md §0, §1).

Layout (the root may be the RD-Agent repo root or its ``RDagentDB`` folder)::

    RDagentDB/aistock/*.json                 catalogs and alpha metas, returned unchanged
    RDagentDB/registry.sqlite                opened read-only (sqlite URI mode=ro): artifacts, incremental
    RDagentDB/production_bundles/<id>/       zipped on request like /artifacts/bundle/{id}
    RDagentDB/aistock/tasks/<task_id>/       task snapshots: task.json, summary.json, loops.json,
                                             sota_aligned.json, assets/<file_dict key> (+ assets/_sources.json)

The live API answers task endpoints from pickled sessions that only RD-Agent's own classes can load; an
export carries those answers as JSON snapshots instead (the demo export writes them). A real export without
``tasks/`` simply has no tasks.
"""

from __future__ import annotations

import io
import json
import sqlite3
import zipfile
from pathlib import Path
from typing import Any

from aistock_core.errors import CatalogError
from aistock_core.research.source import CATALOG_FILES, AlphaSet, CatalogKind, NotFound, ResearchSource


class ExportDirSource(ResearchSource):
    """Read-only access to an export directory; never writes to it (the registry is opened ``mode=ro``)."""

    def __init__(self, root: str | Path) -> None:
        root = Path(root).expanduser().resolve()
        self.db_dir = root if (root / "aistock").is_dir() or root.name == "RDagentDB" else root / "RDagentDB"
        if not self.db_dir.is_dir():
            raise CatalogError(f"{root} is not an RD-Agent export: no RDagentDB/ folder; pass the repo or export root")
        self.label = str(root)
        self.catalog_dir = self.db_dir / "aistock"
        self.registry_path = self.db_dir / "registry.sqlite"
        self.bundles_dir = self.db_dir / "production_bundles"
        self.tasks_dir = self.catalog_dir / "tasks"

    # -- files --------------------------------------------------------------------------------------------
    def _file(self, name: str) -> dict[str, Any]:
        """A catalog file's JSON object. Absent is `NotFound`; present but unreadable is a `CatalogError` naming
        the file: a corrupt export must fail the sync, never read as "everything in it was deleted"."""
        path = self.catalog_dir / name
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise NotFound(f"{path}: {name} not found") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CatalogError(f"{path} is corrupt (not UTF-8 JSON: {exc}); re-run RD-Agent's exporter") from None
        except OSError as exc:  # a directory where the file belongs, no permission
            raise CatalogError(f"{path} cannot be read ({exc.strerror}); it must be a readable JSON file") from None
        if not isinstance(data, dict):
            raise CatalogError(f"{path} holds a JSON {type(data).__name__}, expected an object; re-run the exporter")
        return data

    def catalog(self, kind: CatalogKind) -> dict[str, Any]:
        return self._file(CATALOG_FILES[kind])

    def alpha_meta(self, which: AlphaSet) -> dict[str, Any]:
        return self._file(CATALOG_FILES[which])

    def factor(self, name: str) -> dict[str, Any]:
        factors = self._file(CATALOG_FILES["factors"]).get("factors")
        if not isinstance(factors, list):
            raise NotFound(f"{self.catalog_dir}: invalid factor_catalog format")
        for item in factors:
            if isinstance(item, dict) and item.get("name") == name:
                return item
        raise NotFound(f"factor {name!r} not found in {self.catalog_dir / CATALOG_FILES['factors']}")

    # -- registry -----------------------------------------------------------------------------------------
    def _query(self, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
        if not self.registry_path.exists():
            raise NotFound(f"{self.registry_path}: registry not found")
        if not self.registry_path.is_file():
            raise CatalogError(f"{self.registry_path} is not a file; it must be RD-Agent's registry SQLite file")
        try:
            conn = sqlite3.connect(f"{self.registry_path.as_uri()}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            raise CatalogError(f"cannot open {self.registry_path} read-only: {exc}") from None
        try:
            conn.row_factory = sqlite3.Row
            return [dict(row) for row in conn.execute(sql, params)]
        except sqlite3.Error as exc:
            raise CatalogError(f"registry query failed on {self.registry_path}: {exc}") from None
        finally:
            conn.close()

    def loop_artifacts(self, task_run_id: str, loop_id: int) -> dict[str, Any]:
        rows = self._query(
            "SELECT a.artifact_id, a.artifact_type, a.name, a.status, a.primary_flag, a.entry_path, a.summary_json, "
            "f.file_id, f.path, f.sha256, f.size_bytes, f.mtime_utc, f.kind FROM artifacts a "
            "LEFT JOIN artifact_files f ON f.artifact_id = a.artifact_id "
            "WHERE a.task_run_id = ? AND a.loop_id = ? ORDER BY a.artifact_type, a.name, f.path",
            (task_run_id, int(loop_id)),
        )
        artifacts: dict[str, dict[str, Any]] = {}
        for row in rows:
            art = artifacts.get(row["artifact_id"])
            if art is None:
                try:
                    summary = json.loads(row["summary_json"] or "{}")
                except json.JSONDecodeError:
                    summary = {}
                art = artifacts[row["artifact_id"]] = {
                    "artifact_id": row["artifact_id"], "artifact_type": row["artifact_type"], "name": row["name"],
                    "status": row["status"], "primary_flag": bool(row["primary_flag"]),
                    "entry_path": row["entry_path"], "summary": summary, "files": [],
                }
            if row["file_id"] is not None:
                art["files"].append({k: row[k] for k in ("file_id", "path", "sha256", "size_bytes", "mtime_utc",
                                                          "kind")})
        return {"task_run_id": task_run_id, "loop_id": int(loop_id), "artifacts": list(artifacts.values())}

    def incremental(self, last_sync_time: str | None, limit: int = 100) -> dict[str, Any]:
        where, params = ("AND updated_at_utc > ?", (last_sync_time,)) if last_sync_time else ("", ())
        loops = self._query(
            f"SELECT * FROM loops WHERE is_solidified = 1 {where} ORDER BY updated_at_utc ASC LIMIT ?",
            (*params, int(limit)),
        )
        bundle_ids = sorted({r["asset_bundle_id"] for r in loops if r.get("asset_bundle_id")})
        factors: dict[str, list[dict[str, Any]]] = {}
        if bundle_ids:
            marks = ",".join("?" * len(bundle_ids))
            for row in self._query(f"SELECT * FROM factor_registry WHERE asset_bundle_id IN ({marks})",
                                   tuple(bundle_ids)):
                factors.setdefault(row["asset_bundle_id"], []).append(row)
        for loop in loops:
            loop["factors"] = factors.get(loop.get("asset_bundle_id") or "", [])
        return {"version": "v1", "generated_at_utc": None, "count": len(loops), "loops": loops}

    def bundle(self, asset_bundle_id: str) -> bytes:
        folder = self.bundles_dir / asset_bundle_id
        if "/" in asset_bundle_id or ".." in asset_bundle_id or not folder.is_dir():
            raise NotFound(f"Bundle {asset_bundle_id} not found under {self.bundles_dir}")
        links = sorted(p for p in folder.rglob("*") if p.is_symlink())
        if folder.is_symlink() or links:
            raise CatalogError(f"bundle {asset_bundle_id}: {links[0] if links else folder} is a symbolic link, which "
                               f"could pull a file from outside the export; refusing the bundle")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                archive.write(path, path.relative_to(folder).as_posix())
        return buffer.getvalue()

    # -- task snapshots -----------------------------------------------------------------------------------
    def _task_dir(self, task_id: str) -> Path:
        folder = self.tasks_dir / task_id
        if not task_id or "/" in task_id or ".." in task_id or not folder.is_dir():
            raise NotFound(f"task log dir not found: {task_id}")
        return folder

    def _task_json(self, task_id: str, name: str) -> dict[str, Any]:
        path = self._task_dir(task_id) / name
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CatalogError(f"{path}: missing in the task snapshot; re-export task {task_id}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CatalogError(f"{path}: malformed JSON ({exc})") from None
        except OSError as exc:
            raise CatalogError(f"{path} cannot be read ({exc.strerror})") from None
        if not isinstance(data, dict):
            raise CatalogError(f"{path} holds a JSON {type(data).__name__}, expected an object")
        return data

    def tasks(self, limit: int = 200, offset: int = 0) -> dict[str, Any]:
        if not self.tasks_dir.is_dir():
            raise NotFound(f"{self.tasks_dir}: no task snapshots in this export")
        items = []
        for folder in self.tasks_dir.iterdir():
            if folder.is_dir() and not folder.name.startswith("__"):
                items.append(self._task_json(folder.name, "task.json"))
        items.sort(key=lambda t: (t.get("updated_at_utc") or "", t["task_id"]), reverse=True)
        page = items[offset : offset + limit]
        return {"ok": True, "count": len(page), "limit": limit, "offset": offset, "items": page}

    def task_summary(self, task_id: str) -> dict[str, Any]:
        return self._task_json(task_id, "summary.json")

    def task_loops(self, task_id: str) -> dict[str, Any]:
        return self._task_json(task_id, "loops.json")

    def asset_bytes(self, task_id: str, key: str) -> tuple[bytes, str | None]:
        assets = self._task_dir(task_id) / "assets"
        path = (assets / key).resolve()
        if not key or not path.is_relative_to(assets.resolve()) or not path.is_file():
            raise NotFound(f"key_not_found_in_file_dict: {key}")
        sources_file = assets / "_sources.json"
        sources = json.loads(sources_file.read_text()) if sources_file.is_file() else {}
        return path.read_bytes(), sources.get(key)

    def sota_aligned(self, task_id: str) -> dict[str, Any]:
        data = self._task_json(task_id, "sota_aligned.json")
        if data.get("success") is not True:
            raise CatalogError(f"sota_factors aligned for task {task_id}: success=false: {data.get('error')}")
        return data

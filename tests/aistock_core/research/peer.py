"""A real RD-Agent results-API peer for tests and benchmarks: stdlib HTTP server on a loopback port.

It serves an export directory with the contract's endpoints, status codes and quirks (rdagent.md §1, §14), written
independently of `aistock_core.research.export_dir` so that "HTTP and directory give the same DB" compares
two implementations. Faults can be injected per path (status codes, malformed JSON, ``ok:false``, delays,
replaced bodies). Every request is logged, so tests can assert that no forbidden endpoint was called.
"""

from __future__ import annotations

import io
import json
import sqlite3
import threading
import time
import zipfile
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

FILES = {
    "/catalog/factors": "factor_catalog.json", "/catalog/strategies": "strategy_catalog.json",
    "/catalog/loops": "loop_catalog.json", "/catalog/models": "model_catalog.json",
    "/alpha158/meta": "alpha158_meta.json", "/alpha360/meta": "alpha360_meta.json",
}
FORBIDDEN_PREFIXES = ("/ops/", "/scheduler", "/llm-config")


@dataclass
class Fault:
    kind: str  # "status" | "malformed" | "ok_false" | "sleep" | "body"
    value: Any = None
    times: int | None = None  # None: forever


class Peer:
    """``with Peer(export_root) as peer: peer.url``. ``peer.fault(path, kind, value, times)`` injects a fault."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.db_dir = self.root / "RDagentDB"
        self.requests: list[tuple[str, str]] = []
        self.faults: dict[str, Fault] = {}
        self._lock = threading.Lock()
        peer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else each response waits ~40 ms for a delayed ACK

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                peer._handle(self, "GET")

            def do_POST(self) -> None:
                peer._handle(self, "POST")

            def do_DELETE(self) -> None:
                peer._handle(self, "DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Peer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def fault(self, path: str, kind: str, value: Any = None, times: int | None = None) -> None:
        self.faults[path] = Fault(kind, value, times)

    def paths(self) -> list[str]:
        return [p for _, p in self.requests]

    # -- plumbing -----------------------------------------------------------------------------------------
    def _send(self, h: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str = "application/json",
              headers: dict[str, str] | None = None) -> None:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(body)

    def _json(self, h: BaseHTTPRequestHandler, status: int, data: Any) -> None:
        self._send(h, status, json.dumps(data).encode())

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            fault = self.faults.get(path)
            if fault is None:
                return None
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    del self.faults[path]
            return fault

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(h.path)
        path = unquote(parts.path)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        self.requests.append((method, path))
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        fault = self._take_fault(path)
        if fault is not None:
            if fault.kind == "sleep":
                time.sleep(fault.value)
            elif fault.kind == "status":
                return self._json(h, fault.value, {"detail": f"injected {fault.value}"})
            elif fault.kind == "malformed":
                return self._send(h, 200, b'{"factors": [ {"name": "trunc')
            elif fault.kind == "ok_false":
                return self._json(h, 200, {"ok": False, "success": False, "error": "injected failure"})
            elif fault.kind == "body":
                return self._send(h, 200, fault.value, "application/x-zip-compressed")
        try:
            self._route(h, method, path, query, body)
        except Exception as exc:  # the real server turns handler crashes into 500
            self._json(h, 500, {"detail": f"{type(exc).__name__}: {exc}"})

    def _registry(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.db_dir / "registry.sqlite")
        conn.row_factory = sqlite3.Row
        return conn

    # -- endpoints ----------------------------------------------------------------------------------------
    def _route(self, h: BaseHTTPRequestHandler, method: str, path: str, q: dict[str, str], body: bytes) -> None:
        seg = [s for s in path.split("/") if s]
        if method == "POST" and path == "/ops/sync-confirm":
            payload = json.loads(body or b"{}")
            if payload.get("status") != "synced" or not payload.get("asset_bundle_id"):
                return self._json(h, 400, {"detail": "Invalid payload"})
            with self._registry() as conn:
                conn.execute("UPDATE loops SET sync_status='synced' WHERE asset_bundle_id=?",
                             (payload["asset_bundle_id"],))
            return self._json(h, 200, {"status": "ok", "message": "synced"})
        if method != "GET":
            return self._json(h, 405, {"detail": "Method Not Allowed"})
        if path == "/health":
            return self._json(h, 200, {"status": "ok"})
        if path in FILES:
            file = self.db_dir / "aistock" / FILES[path]
            try:
                return self._json(h, 200, json.loads(file.read_text()))
            except (OSError, ValueError):
                return self._json(h, 404, {"detail": f"{FILES[path]} not found"})
        if len(seg) == 2 and seg[0] == "factors":
            try:
                factors = json.loads((self.db_dir / "aistock" / "factor_catalog.json").read_text())["factors"]
            except (OSError, ValueError):
                return self._json(h, 404, {"detail": "factor_catalog.json not found"})
            hit = next((f for f in factors if f.get("name") == seg[1]), None)
            return self._json(h, 200, hit) if hit else self._json(h, 404, {"detail": "factor not found"})
        if len(seg) == 4 and seg[0] == "loops" and seg[3] == "artifacts":
            return self._artifacts(h, seg[1], seg[2])
        if path == "/catalog/incremental":
            return self._incremental(h, q.get("last_sync_time"), int(q.get("limit", 100)))
        if len(seg) == 3 and seg[:2] == ["artifacts", "bundle"]:
            return self._bundle(h, seg[2])
        if seg and seg[0] == "tasks":
            return self._tasks(h, seg[1:], q)
        if len(seg) == 6 and seg[:4] == ["api", "extractors", "sota_factors", "v2"] and seg[5] == "aligned":
            task = self.db_dir / "aistock" / "tasks" / seg[4]
            if not task.is_dir():
                return self._json(h, 404, {"detail": f"task log dir not found: {seg[4]}"})
            return self._json(h, 200, json.loads((task / "sota_aligned.json").read_text()))
        return self._json(h, 404, {"detail": "Not Found"})

    def _artifacts(self, h: BaseHTTPRequestHandler, trid: str, loop: str) -> None:
        if not loop.lstrip("-").isdigit():
            return self._json(h, 422, {"detail": [{"loc": ["path", "loop_id"], "msg": "not an int"}]})
        with self._registry() as conn:
            rows = conn.execute(
                "SELECT a.*, f.file_id, f.path, f.sha256, f.size_bytes, f.mtime_utc, f.kind FROM artifacts a "
                "LEFT JOIN artifact_files f ON a.artifact_id = f.artifact_id WHERE a.task_run_id=? AND a.loop_id=? "
                "ORDER BY a.artifact_type, a.name", (trid, int(loop))).fetchall()
        out: dict[str, dict] = {}
        for r in rows:
            art = out.setdefault(r["artifact_id"], {
                "artifact_id": r["artifact_id"], "artifact_type": r["artifact_type"], "name": r["name"],
                "status": r["status"], "primary_flag": bool(r["primary_flag"]), "entry_path": r["entry_path"],
                "summary": json.loads(r["summary_json"] or "{}"), "files": []})
            art["files"].append({k: r[k] for k in ("file_id", "path", "sha256", "size_bytes", "mtime_utc", "kind")})
        self._json(h, 200, {"task_run_id": trid, "loop_id": int(loop), "artifacts": list(out.values())})

    def _incremental(self, h: BaseHTTPRequestHandler, since: str | None, limit: int) -> None:
        sql, args = "SELECT * FROM loops WHERE is_solidified=1", []
        if since:
            sql += " AND updated_at_utc > ?"  # a string comparison, as in RD-Agent
            args.append(since)
        with self._registry() as conn:
            loops = [dict(r) for r in conn.execute(sql + " ORDER BY updated_at_utc ASC LIMIT ?", (*args, limit))]
            for loop in loops:
                loop["factors"] = [dict(r) for r in conn.execute(
                    "SELECT * FROM factor_registry WHERE asset_bundle_id=?", (loop["asset_bundle_id"],))]
        self._json(h, 200, {"version": "v1", "generated_at_utc": "now", "count": len(loops), "loops": loops})

    def _bundle(self, h: BaseHTTPRequestHandler, bundle_id: str) -> None:
        folder = self.db_dir / "production_bundles" / bundle_id
        if not folder.is_dir():
            return self._json(h, 404, {"detail": f"Bundle {bundle_id} not found"})
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for p in folder.rglob("*"):
                if p.is_file():
                    zf.write(p, p.relative_to(folder).as_posix())
        self._send(h, 200, buf.getvalue(), "application/x-zip-compressed",
                   {"Content-Disposition": f"attachment; filename=bundle_{bundle_id}.zip"})

    def _tasks(self, h: BaseHTTPRequestHandler, seg: list[str], q: dict[str, str]) -> None:
        tasks_dir = self.db_dir / "aistock" / "tasks"
        if not seg:
            items = sorted((json.loads((d / "task.json").read_text()) for d in tasks_dir.iterdir() if d.is_dir()),
                           key=lambda t: t["updated_at_utc"], reverse=True) if tasks_dir.is_dir() else []
            limit, offset = int(q.get("limit", 200)), int(q.get("offset", 0))
            page = items[offset : offset + limit]
            return self._json(h, 200, {"ok": True, "count": len(page), "limit": limit, "offset": offset,
                                       "items": page})
        task = tasks_dir / seg[0]
        if not task.is_dir():
            return self._json(h, 404, {"detail": f"task log dir not found: {seg[0]}"})
        if seg[1:] == ["summary"]:
            return self._json(h, 200, json.loads((task / "summary.json").read_text()))
        if seg[1:] == ["loops"]:
            return self._json(h, 200, json.loads((task / "loops.json").read_text()))
        if seg[1:] == ["asset_bytes"]:
            key = q.get("key", "")
            if not key:
                return self._json(h, 400, {"detail": "empty key"})
            file = task / "assets" / key
            if ".." in key or not file.is_file():
                return self._json(h, 404, {"detail": f"key_not_found_in_file_dict: {key}"})
            sources = json.loads((task / "assets" / "_sources.json").read_text())
            return self._send(h, 200, file.read_bytes(), "application/octet-stream", {
                "Content-Disposition": f"attachment; filename={Path(key).name}",
                "X-RDAgent-Source": sources.get(key, "workspace_fallback")})
        return self._json(h, 404, {"detail": "Not Found"})

"""`HttpSource`: the RD-Agent results API over httpx, with the peer's quirks handled (rdagent.md §1, §14.12).

* Connection errors, timeouts and 5xx are retried with exponential backoff (the API is a single uvicorn
  process that an exporter run can stall); 4xx are answers and are not retried.
* A 200 is not success: task endpoints say ``{"ok": false}`` and extractors ``{"success": false}``, so both
  flags are checked.
* ``/catalog/incremental`` compares timestamps as strings: the cursor is sent exactly as the peer wrote it.
* Deadlines, not just timeouts: httpx's timeout bounds each socket read, so a server trickling a byte a second
  never trips it. Each attempt runs on a worker thread that the caller stops waiting for at ``timeout``
  seconds (connect to last byte), and the whole source (one sync) stops at ``deadline`` seconds.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any
from urllib.parse import quote

import httpx

from aistock_core.errors import CatalogError
from aistock_core.research.source import AlphaSet, CatalogKind, NotFound, ResearchSource


class HttpSource(ResearchSource):
    """Client of one results API (default port 9000). One keep-alive connection pool per instance."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        deadline: float | None = None,
        retries: int = 3,
        backoff: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.label = self.base_url
        self.timeout = timeout
        self.deadline = deadline
        self._ends_at = None if deadline is None else time.monotonic() + deadline
        self.retries = retries
        self.backoff = backoff
        self._client = httpx.Client(base_url=self.base_url, timeout=httpx.Timeout(timeout), transport=transport)

    def close(self) -> None:
        self._client.close()

    # -- transport ----------------------------------------------------------------------------------------
    def _budget(self, method: str, path: str) -> float:
        """Seconds the next attempt may take: ``timeout``, less if the source's deadline comes first."""
        if self._ends_at is None:
            return self.timeout
        left = self._ends_at - time.monotonic()
        if left <= 0:
            raise CatalogError(f"{method} {self.base_url}{path}: the sync passed its overall deadline of "
                               f"{self.deadline:g} s (--deadline); the results API is too slow or stalled")
        return min(self.timeout, left)

    def _attempt(self, method: str, path: str, budget: float, **kwargs: Any) -> httpx.Response:
        """One request, whole body read, within ``budget`` seconds however slowly the server sends.

        The request runs on a daemon thread; past the budget the caller raises `httpx.TimeoutException` and the
        thread (which checks the same deadline between body chunks) closes the response on its next read.
        """
        ends_at = time.monotonic() + budget
        box: dict[str, Any] = {}

        def run() -> None:
            try:
                with self._client.stream(method, path, timeout=httpx.Timeout(budget), **kwargs) as response:
                    body = bytearray()
                    for chunk in response.iter_raw():
                        body += chunk
                        if time.monotonic() > ends_at:
                            raise httpx.ReadTimeout("deadline passed while reading the body")
                box["response"] = httpx.Response(response.status_code, headers=response.headers,
                                                 content=bytes(body), request=response.request)
            except Exception as exc:  # handed to the caller's thread
                box["error"] = exc

        worker = threading.Thread(target=run, name="research-http", daemon=True)
        worker.start()
        worker.join(budget)
        if worker.is_alive():
            raise httpx.ReadTimeout(f"no complete answer within the {budget:g} s deadline")
        if "error" in box:
            raise box["error"]
        return box["response"]

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send with retries; return a 2xx response, raise `NotFound` on 404, `CatalogError` otherwise."""
        last: str = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(self.backoff * 2 ** (attempt - 1), self._budget(method, path)))
            budget = self._budget(method, path)
            try:
                response = self._attempt(method, path, budget, **kwargs)
            except httpx.TimeoutException:
                last = f"timed out: no complete answer within {budget:g} s (--timeout bounds each whole request)"
                continue
            except httpx.TransportError as exc:
                last = f"connection failed ({type(exc).__name__}: {exc})"
                continue
            if response.status_code >= 500:
                last = f"HTTP {response.status_code}: {_detail(response)}"
                continue
            if response.status_code == 404:
                raise NotFound(f"{method} {self.base_url}{path}: 404 {_detail(response)}")
            if response.status_code >= 400:
                raise CatalogError(
                    f"{method} {self.base_url}{path}: HTTP {response.status_code} {_detail(response)}; the request "
                    f"was refused, check the id/parameters"
                )
            return response
        raise CatalogError(
            f"{method} {self.base_url}{path} failed after {self.retries + 1} attempt(s): {last}; check that the "
            f"RD-Agent results API runs there (`rdagent results_api --port 9000`)"
        )

    def _json(self, path: str, params: dict[str, Any] | None = None, *, flag: str | None = None) -> dict[str, Any]:
        response = self._request("GET", path, params=params)
        try:
            data = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CatalogError(
                f"GET {self.base_url}{path}: malformed JSON ({exc}); the peer may be mid-write, retry the sync"
            ) from None
        if not isinstance(data, dict):
            raise CatalogError(f"GET {self.base_url}{path}: expected a JSON object, got {type(data).__name__}")
        for name in (flag,) if flag else ("ok", "success"):
            if name in data and data[name] is not True:
                raise CatalogError(f"GET {self.base_url}{path}: {name}=false: {data.get('error') or data}")
        return data

    # -- read endpoints -----------------------------------------------------------------------------------
    def catalog(self, kind: CatalogKind) -> dict[str, Any]:
        return self._json(f"/catalog/{kind}")

    def alpha_meta(self, which: AlphaSet) -> dict[str, Any]:
        return self._json(f"/{which}/meta")

    def factor(self, name: str) -> dict[str, Any]:
        return self._json(f"/factors/{quote(name, safe='')}")

    def loop_artifacts(self, task_run_id: str, loop_id: int) -> dict[str, Any]:
        return self._json(f"/loops/{quote(task_run_id, safe='')}/{int(loop_id)}/artifacts")

    def incremental(self, last_sync_time: str | None, limit: int = 100) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit}
        if last_sync_time:
            params["last_sync_time"] = last_sync_time  # httpx encodes "+" as %2B
        return self._json("/catalog/incremental", params)

    def bundle(self, asset_bundle_id: str) -> bytes:
        return self._request("GET", f"/artifacts/bundle/{quote(asset_bundle_id, safe='')}").content

    def tasks(self, limit: int = 200, offset: int = 0) -> dict[str, Any]:
        return self._json("/tasks", {"limit": limit, "offset": offset}, flag="ok")

    def task_summary(self, task_id: str) -> dict[str, Any]:
        return self._json(f"/tasks/{quote(task_id, safe='')}/summary", flag="ok")

    def task_loops(self, task_id: str) -> dict[str, Any]:
        return self._json(f"/tasks/{quote(task_id, safe='')}/loops", flag="ok")

    def asset_bytes(self, task_id: str, key: str) -> tuple[bytes, str | None]:
        response = self._request("GET", f"/tasks/{quote(task_id, safe='')}/asset_bytes", params={"key": key})
        return response.content, response.headers.get("X-RDAgent-Source")

    def sota_aligned(self, task_id: str) -> dict[str, Any]:
        return self._json(f"/api/extractors/sota_factors/v2/{quote(task_id, safe='')}/aligned", flag="success")

    # -- the one opt-in write -----------------------------------------------------------------------------
    def check_can_confirm(self) -> None:
        """The results API takes ``/ops/sync-confirm``."""

    def confirm_sync(self, asset_bundle_id: str) -> None:
        response = self._request("POST", "/ops/sync-confirm",
                                 json={"asset_bundle_id": asset_bundle_id, "status": "synced"})
        if response.json().get("status") != "ok":
            raise CatalogError(f"sync-confirm of bundle {asset_bundle_id} refused: {response.text[:200]}")


def _detail(response: httpx.Response) -> str:
    """FastAPI's ``{"detail": ...}`` or the start of the body."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text[:200]
    return str(body.get("detail", body))[:300] if isinstance(body, dict) else str(body)[:300]

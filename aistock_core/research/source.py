"""`ResearchSource`: the one interface over RD-Agent's results, served by HTTP or read from an export directory.

Both implementations return the *same JSON shapes as the results API* (rdagent.md §1), so everything downstream
(normalisation, sync) is written once and a sync over HTTP and from the directory must store identical rows.
Only read endpoints are exposed; the one write (``/ops/sync-confirm``) is a separate, opt-in method.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Literal

from aistock_core.errors import CatalogError

CatalogKind = Literal["factors", "strategies", "loops", "models"]
AlphaSet = Literal["alpha158", "alpha360"]
CATALOG_KINDS: tuple[CatalogKind, ...] = ("factors", "strategies", "loops", "models")
ALPHA_SETS: tuple[AlphaSet, ...] = ("alpha158", "alpha360")
CATALOG_FILES: dict[str, str] = {
    "factors": "factor_catalog.json",
    "strategies": "strategy_catalog.json",
    "loops": "loop_catalog.json",
    "models": "model_catalog.json",
    "alpha158": "alpha158_meta.json",
    "alpha360": "alpha360_meta.json",
}
#: Keys `asset_bytes` is asked for per task: the factor code and the model files the contract names (rdagent.md §1.D).
TASK_ASSET_KEYS = ("factor.py", "model_meta.json", "model.pkl", "params.pkl")


class NotFound(CatalogError):
    """The peer says the thing does not exist (HTTP 404, or the file is absent): often expected, e.g. alpha360."""


class ResearchSource(ABC):
    """Read access to one RD-Agent installation. Methods return the API's JSON (dicts) or raw bytes."""

    label: str

    @abstractmethod
    def catalog(self, kind: CatalogKind) -> dict[str, Any]:
        """``/catalog/{kind}``: the exporter's JSON envelope. `NotFound` until the exporters have run."""

    @abstractmethod
    def alpha_meta(self, which: AlphaSet) -> dict[str, Any]:
        """``/{which}/meta``. `NotFound` when that meta was never exported (alpha360 usually)."""

    @abstractmethod
    def factor(self, name: str) -> dict[str, Any]:
        """``/factors/{name}``: the first factor with exactly that name."""

    @abstractmethod
    def loop_artifacts(self, task_run_id: str, loop_id: int) -> dict[str, Any]:
        """``/loops/{task_run_id}/{loop_id}/artifacts`` (an unknown loop gives ``artifacts: []``)."""

    @abstractmethod
    def incremental(self, last_sync_time: str | None, limit: int = 100) -> dict[str, Any]:
        """``/catalog/incremental``: solidified loops with ``updated_at_utc`` > cursor (a *string* comparison)."""

    @abstractmethod
    def bundle(self, asset_bundle_id: str) -> bytes:
        """``/artifacts/bundle/{id}``: the production bundle as zip bytes."""

    @abstractmethod
    def tasks(self, limit: int = 200, offset: int = 0) -> dict[str, Any]:
        """``/tasks``: task ids (log-dir names), newest first."""

    @abstractmethod
    def task_summary(self, task_id: str) -> dict[str, Any]:
        """``/tasks/{id}/summary``."""

    @abstractmethod
    def task_loops(self, task_id: str) -> dict[str, Any]:
        """``/tasks/{id}/loops`` (KPIs with cost first)."""

    @abstractmethod
    def asset_bytes(self, task_id: str, key: str) -> tuple[bytes, str | None]:
        """``/tasks/{id}/asset_bytes?key=``: (bytes, origin from ``X-RDAgent-Source``); `NotFound` if no such key."""

    @abstractmethod
    def sota_aligned(self, task_id: str) -> dict[str, Any]:
        """``/api/extractors/sota_factors/v2/{id}/aligned``: SOTA factor names and their factor.py sources."""

    def confirm_sync(self, asset_bundle_id: str) -> None:
        """``POST /ops/sync-confirm`` (opt-in: it writes to RD-Agent's registry). Only an HTTP peer can do it."""
        self.check_can_confirm()

    def check_can_confirm(self) -> None:
        """`CatalogError` unless `confirm_sync` can work here: asked before a sync with ``--confirm`` writes."""
        raise CatalogError(
            f"{self.label}: sync-confirm needs the results API (it updates RD-Agent's registry, which an export "
            f"directory must not be written to); sync with --source http://host:9000 to confirm"
        )

    def close(self) -> None:  # noqa: B027  (optional hook: sources holding connections override it)
        """Release connections."""

    def __enter__(self) -> ResearchSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_source(spec: str | Path, **http_options: Any) -> ResearchSource:
    """``http(s)://...`` → `HttpSource`; an existing directory → `ExportDirSource`; anything else: CatalogError.

    ``http_options`` (``timeout``, ``retries``, ...) go to `HttpSource` and are ignored for a directory.
    """
    text = str(spec)
    if text.startswith(("http://", "https://")):
        from aistock_core.research.client import HttpSource

        return HttpSource(text, **http_options)
    path = Path(text).expanduser()
    if path.is_dir():
        from aistock_core.research.export_dir import ExportDirSource

        return ExportDirSource(path)
    raise CatalogError(
        f"research source {text!r} is neither an http(s) URL nor an existing directory; pass the results API "
        f"URL (e.g. http://127.0.0.1:9000) or an RD-Agent export directory (holding RDagentDB/)"
    )

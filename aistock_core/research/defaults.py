"""Where research syncs read from and store blobs when nothing else is said (Settings-driven)."""

from __future__ import annotations

from pathlib import Path

from aistock_core.config import Settings
from aistock_core.research.demo_export import write_demo_export


def demo_export_dir(settings: Settings) -> Path:
    return settings.resolved_home / "demo_export"


def blob_root(settings: Settings) -> Path:
    """Content-addressed store of bundle files and task assets."""
    return settings.resolved_home / "research" / "blobs"


def default_source_spec(settings: Settings) -> str:
    """``rdagent_source`` if set, else the demo export under AISTOCK_HOME, generated from the market on first use."""
    if settings.rdagent_source:
        return settings.rdagent_source
    path = demo_export_dir(settings)
    if not (path / "RDagentDB").is_dir():
        from aistock_core.data.factory import build_service

        write_demo_export(build_service(settings), path, seed=settings.synthetic_seed)
    return str(path)

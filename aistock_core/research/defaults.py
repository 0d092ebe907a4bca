"""Where research syncs store blobs when nothing else is said (Settings-driven).

Where they read from is configuration: `aistock_core.specs.research_source` (the RD-Agent source, else the demo).
"""

from __future__ import annotations

from pathlib import Path

from aistock_core.config import Settings


def blob_root(settings: Settings) -> Path:
    """Content-addressed store of bundle files and task assets."""
    return settings.resolved_home / "research" / "blobs"

"""One feedback delivery: the LiveFeedback file, the ExperimentRequest beside it on a breach, the POST, the record.

The request goes to ``<start>_<end>.request.json`` next to the feedback file, so RD-Agent finds both in the folder
it scans. Everything is built and validated before the first file is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aistock_core.config import Settings
from aistock_core.data.service import DataService
from aistock_core.db import Database
from aistock_core.feedback.livefeedback import (
    build_feedback,
    feedback_path,
    post_feedback,
    record_file,
    write_feedback,
    write_json,
)
from aistock_core.feedback.periods import Period
from aistock_core.feedback.request import breaches, build_request
from aistock_core.instances import resolve_instance

#: First bytes of every ExperimentRequest file we write.
REQUEST_MAGIC = b'{\n  "kind": '


@dataclass(frozen=True)
class Delivery:
    instance: str
    path: Path
    request_path: Path | None
    breaches: list[dict]
    posted: str | None


def request_path_for(path: Path) -> Path:
    return path.with_name(path.name.removesuffix(".json") + ".request.json")


def write_request(request: dict, out: Path, *, force: bool = False) -> Path:
    return write_json(request, out, REQUEST_MAGIC, force=force)


def publish(db: Database, service: DataService, settings: Settings, ref: str, period: Period) -> Delivery:
    doc = build_feedback(db, service, ref, period)
    instance = resolve_instance(db, ref)
    found = breaches(doc, instance.limits())
    path = feedback_path(settings.feedback_root, doc)
    request = build_request(db, doc, instance, feedback_ref=str(path)) if found else None
    write_feedback(doc, path)
    request_path = write_request(request, request_path_for(path)) if request else None
    posted = None
    if settings.feedback_url:
        result = post_feedback(doc, settings.feedback_url, deadline=settings.feedback_post_deadline)
        posted = f"{'ok' if result.ok else 'failed'} after {result.attempts} attempt(s): {result.detail}"[:200]
    record_file(db, doc, path, found, request_path, posted)
    return Delivery(doc["strategy_instance_id"], path, request_path, found, posted)

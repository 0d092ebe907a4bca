"""Blocking check of ``live_feedback``: every file written for the day, read back from disk, has the figures the
account tables give, recomputed independently (`aistock_core.feedback.recompute`)."""


import json
from pathlib import Path

import dagster as dg
from sqlalchemy import select

from aistock_core.db.models.feedback import FeedbackFile
from aistock_core.feedback.recompute import recompute_mismatches
from aistock_pipelines.defs.feedback.assets import live_feedback
from aistock_pipelines.partitions import trade_date
from aistock_pipelines.resources import DatabaseResource, DataServiceResource


@dg.asset_check(asset=live_feedback, name="reconciles", blocking=True,
                description="Every LiveFeedback figure of the day's files equals its independent recomputation.")
def live_feedback_reconciles(context: dg.AssetCheckExecutionContext, data: DataServiceResource,
                             database: DatabaseResource) -> dg.AssetCheckResult:
    partition = context.run.tags.get("dagster/partition") if context.run else None
    day = trade_date(partition)
    db, service = database.get_db(), data.get_service()
    with db.session() as s:
        paths = list(s.scalars(select(FeedbackFile.path).where(FeedbackFile.end_date == day.date())))
    bad = {}
    for path in paths:
        problems = recompute_mismatches(db, service, json.loads(Path(path).read_text(encoding="utf-8")))
        if problems:
            bad[path] = problems
    return dg.AssetCheckResult(
        passed=not bad,
        description=f"{len(paths) - len(bad)} of {len(paths)} file(s) agree with the account tables",
        metadata={"files": dg.MetadataValue.int(len(paths)), "disagreeing": dg.MetadataValue.int(len(bad)),
                  "worst": dg.MetadataValue.md("\n".join(f"- {p}: {'; '.join(m[:3])}" for p, m in bad.items())
                                               or "none")},
    )

"""Feedback assets: the day's LiveFeedback files (with the week's and month's rolls) and the optimizer's proposals.

``live_feedback`` writes, for every running preview instance and every trading instance with an account on the
partition's day, the day's LiveFeedback, plus the week's on the week's last session and the month's on the
month's last session, each with an ExperimentRequest beside it when a constraint is breached. ``optimizer_proposals``
stores the optimizer's proposals as pending (``performance_report`` is the signals box's 18:00 evaluation, upstream of
both); they change nothing until approved (`aistock loop approve`), unless
``AISTOCK_OPTIMIZER_AUTO_APPLY`` is set, in which case each is approved as ``auto`` (still an approval row).
"""


import dagster as dg
import pandas as pd

from aistock_core.config import get_settings
from aistock_core.errors import FeedbackError
from aistock_core.feedback.periods import roll_periods
from aistock_core.feedback.proposals import decide, run_optimizer
from aistock_core.feedback.publish import publish
from aistock_core.instances import list_instances
from aistock_pipelines.partitions import trade_date, trading_days
from aistock_pipelines.resources import DatabaseResource, DataServiceResource

GROUP = "feedback"


@dg.asset(partitions_def=trading_days, group_name=GROUP, kinds={"json", "sql"},
          deps=["preview_settlement", "performance_report"],
          description="LiveFeedback v1 per instance for the day (and the week/month on their last session), "
                      "validated and written under AISTOCK_FEEDBACK_DIR; an ExperimentRequest beside it on a breach.")
def live_feedback(context: dg.AssetExecutionContext, data: DataServiceResource,
                  database: DatabaseResource) -> dg.MaterializeResult:
    day = trade_date(context.partition_key)
    db, service, settings = database.get_db(), data.get_service(), get_settings()
    rows = []
    for instance in list_instances(db, "reporting"):
        for period in roll_periods(service.calendar, day):
            try:
                done = publish(db, service, settings, instance.id, period)
            except FeedbackError as exc:
                if "no settled account day" not in str(exc):
                    raise
                break  # no account on this day: nothing to report for any of its periods
            rows.append({"instance": done.instance, "kind": period.kind, "file": str(done.path),
                         "request": str(done.request_path or ""), "breaches": ", ".join(
                             b["constraint"] for b in done.breaches), "posted": done.posted or ""})
    table = pd.DataFrame(rows, columns=["instance", "kind", "file", "request", "breaches", "posted"])
    return dg.MaterializeResult(metadata={
        "files": dg.MetadataValue.int(len(table)),
        "requests": dg.MetadataValue.int(int((table["request"] != "").sum())),
        "feedback_dir": dg.MetadataValue.path(str(settings.feedback_root)),
        "written": dg.MetadataValue.md(table.to_markdown(index=False) if len(table) else "no instance traded"),
    })


@dg.asset(partitions_def=trading_days, group_name=GROUP, kinds={"sql"}, deps=["live_feedback", "performance_report"],
          description="The optimizer's proposals (sizing by fractional Kelly, weights across instances, drawdown "
                      "stop), each with held-out evidence; pending until approved with `aistock loop approve`.")
def optimizer_proposals(context: dg.AssetExecutionContext, data: DataServiceResource,
                        database: DatabaseResource) -> dg.MaterializeResult:
    day = trade_date(context.partition_key)
    db = database.get_db()
    made = run_optimizer(db, data.get_service(), day)
    if get_settings().optimizer_auto_apply:
        made = [decide(db, p.id, "approve", "auto", "AISTOCK_OPTIMIZER_AUTO_APPLY") if p.status == "pending" else p
                for p in made]
    table = pd.DataFrame([{"id": p.id, "kind": p.kind, "scope": p.scope, "status": p.status,
                           "before": (p.evidence.get("before") or {}).get("value"),
                           "after": (p.evidence.get("after") or {}).get("value")} for p in made],
                         columns=["id", "kind", "scope", "status", "before", "after"])
    return dg.MaterializeResult(metadata={
        "proposals": dg.MetadataValue.int(len(table)),
        "pending": dg.MetadataValue.int(int((table["status"] == "pending").sum())),
        "table": dg.MetadataValue.md(table.to_markdown(index=False) if len(table) else "no proposal"),
    })

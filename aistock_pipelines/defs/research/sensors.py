"""Poll RD-Agent's ``/catalog/incremental`` and launch an incremental sync only when something changed.

The sensor cursor is the newest ``updated_at_utc`` seen (RD-Agent compares it as a string, so it is kept
verbatim); it starts from the last successful sync run in the DB, so a fresh Dagster instance does not
re-sync what the CLI already pulled. The run key is that timestamp: a tick that sees the same change twice
launches one run.
"""

import dagster as dg

from aistock_core.research.sync import last_cursor
from aistock_pipelines.defs.research.assets import RDAgentSourceResource, research_sync_job
from aistock_pipelines.resources import DatabaseResource

POLL_SECONDS = 300
PROBE_LIMIT = 1000


@dg.sensor(job=research_sync_job, minimum_interval_seconds=POLL_SECONDS, default_status=dg.DefaultSensorStatus.STOPPED,
           description="Every 5 minutes: an incremental research sync when RD-Agent reports changed loops. Off by "
                       "default: start it once AISTOCK_RDAGENT_SOURCE points at the research peer.")
def research_incremental_sensor(
    context: dg.SensorEvaluationContext, rdagent: RDAgentSourceResource, database: DatabaseResource
) -> dg.SensorResult | dg.SkipReason:
    cursor = context.cursor
    if not cursor:
        with database.get_db().session() as session:
            cursor = last_cursor(session)
    with rdagent.open() as source:
        page = source.incremental(cursor, PROBE_LIMIT)
    loops = page.get("loops") or []
    if not loops:
        return dg.SkipReason(f"no loop updated after {cursor or 'the beginning'}")
    newest = max(str(loop["updated_at_utc"]) for loop in loops)
    return dg.SensorResult(
        run_requests=[dg.RunRequest(
            run_key=f"research-incremental-{newest}",
            run_config={"ops": {"research_catalog_sync": {"config": {"incremental": True}}}},
            tags={"research/cursor": newest, "research/changed_loops": str(len(loops))},
        )],
        cursor=newest,
    )

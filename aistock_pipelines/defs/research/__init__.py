"""Research box: RD-Agent catalogs, bundles and SOTA code synced into the app DB; a sensor for increments; the
trading-day research state each session runs on."""

import dagster as dg

from aistock_pipelines.defs.research.assets import (
    RDAgentSourceResource,
    research_catalog_sync,
    research_state,
    research_sync_job,
)
from aistock_pipelines.defs.research.sensors import research_incremental_sensor

defs = dg.Definitions(
    assets=[research_catalog_sync, research_state],
    jobs=[research_sync_job],
    sensors=[research_incremental_sensor],
    resources={"rdagent": RDAgentSourceResource()},
)

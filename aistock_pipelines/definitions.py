"""The one `Definitions` of the project: the merge of every domain box's ``defs``.

Resources are bound once here (`default_resources`), so a box's ``defs`` declares assets, checks, jobs and
schedules only and two boxes can never bind the same resource key differently.
"""

import dagster as dg

from aistock_pipelines.defs import data
from aistock_pipelines.defs import factors as factor_defs
from aistock_pipelines.defs import research as research_defs
from aistock_pipelines.defs import strategy as strategy_defs
from aistock_pipelines.resources import default_resources

defs = dg.Definitions.merge(
    dg.Definitions(resources=default_resources()),
    data.defs,
    factor_defs.defs,
    research_defs.defs,
    strategy_defs.defs,
)

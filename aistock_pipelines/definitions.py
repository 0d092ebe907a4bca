"""The one `Definitions` of the project: the merge of every domain box's ``defs``."""

import dagster as dg

from aistock_pipelines.defs import data

defs = dg.Definitions.merge(
    data.defs,
)

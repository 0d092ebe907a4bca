"""The one `Definitions` of the project: the merge of every domain box's ``defs``.

The shared resources (``data``, ``database``, ``store``: `default_resources`) are bound once here; a box's
``defs`` binds only resources of its own, so two boxes can never bind a shared key differently. The graph-wide
conventions (owners, automation, one named job per partitioning) are applied to the merge (`graph.py`).
"""

import warnings

import dagster as dg

from aistock_pipelines.defs import data
from aistock_pipelines.defs import execution as execution_defs
from aistock_pipelines.defs import factors as factor_defs
from aistock_pipelines.defs import feedback as feedback_defs
from aistock_pipelines.defs import models as model_defs
from aistock_pipelines.defs import ops as ops_defs
from aistock_pipelines.defs import preview as preview_defs
from aistock_pipelines.defs import research as research_defs
from aistock_pipelines.defs import signals as signal_defs
from aistock_pipelines.defs import strategy as strategy_defs
from aistock_pipelines.graph import apply_conventions
from aistock_pipelines.resources import default_resources

# Dagster rebuilds every sensor that targets a job when it binds resources, passing its (beta) ``owners``
# parameter itself: a warning about Dagster's own call, printed at each code location load. Silenced, that one only.
warnings.filterwarnings("ignore", message="Parameter `owners` of initializer `SensorDefinition",
                        category=dg.BetaWarning)

defs = apply_conventions(dg.Definitions.merge(
    dg.Definitions(resources=default_resources()),
    data.defs,
    execution_defs.defs,
    factor_defs.defs,
    preview_defs.defs,
    model_defs.defs,
    research_defs.defs,
    strategy_defs.defs,
    ops_defs.defs,
    feedback_defs.defs,
    signal_defs.defs,
))

"""Factor assets (Alpha158 and migrated RD-Agent factors) with blocking alignment checks."""

import dagster as dg

from aistock_pipelines.defs.factors.assets import alpha158_factors, rdagent_factors
from aistock_pipelines.defs.factors.checks import alpha158_alignment, rdagent_alignment

defs = dg.Definitions(assets=[alpha158_factors, rdagent_factors], asset_checks=[alpha158_alignment, rdagent_alignment])

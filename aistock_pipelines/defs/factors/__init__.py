"""Factor assets with blocking alignment checks, one pair per configured factor set (`aistock_core.specs`: a
TOML file, else the demo's Alpha158 and RD-Agent factors), and the weekly full Qlib alignment."""

import dagster as dg

from aistock_core.config import get_settings
from aistock_core.specs import PipelineSpecs, load_specs
from aistock_pipelines.defs.factors.checks import build_factor_set
from aistock_pipelines.defs.factors.schedules import build_full_alignment


def build_defs(specs: PipelineSpecs) -> dg.Definitions:
    """The box's definitions for ``specs``."""
    built = [build_factor_set(spec) for spec in specs.factor_sets]
    full = [build_full_alignment(list(specs.factor_sets))] if any(s.reference == "qlib" for s in specs.factor_sets) \
        else []
    return dg.Definitions(assets=[asset for asset, _ in built], asset_checks=[check for _, check in built],
                          jobs=[job for job, _ in full], schedules=[schedule for _, schedule in full])


defs = build_defs(load_specs(get_settings()))

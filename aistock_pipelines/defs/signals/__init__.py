"""Signals box: the day's trading signals (08:00) and the evening evaluation (18:00), with their jobs and
schedules."""

import dagster as dg

from aistock_core.config import get_settings
from aistock_core.specs import PipelineSpecs, load_specs
from aistock_pipelines.defs.signals.assets import build_performance_report, build_trading_signals
from aistock_pipelines.defs.signals.schedules import (
    evaluation_job,
    evaluation_schedule,
    signals_job,
    signals_schedule,
)


def build_defs(specs: PipelineSpecs) -> dg.Definitions:
    return dg.Definitions(assets=[build_trading_signals(specs), build_performance_report(specs)],
                          jobs=[signals_job, evaluation_job], schedules=[signals_schedule, evaluation_schedule])


defs = build_defs(load_specs(get_settings()))

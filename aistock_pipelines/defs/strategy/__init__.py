"""Strategy box: one backtest asset with its reconciliation check per configured `BacktestSpec`, and the daily
target positions of the configured targets spec (`aistock_core.specs`: a TOML file, else the demo's)."""

import dagster as dg

from aistock_core.config import get_settings
from aistock_core.specs import PipelineSpecs, load_specs
from aistock_pipelines.defs.strategy.assets import build_target_positions
from aistock_pipelines.defs.strategy.checks import build_backtest


def build_defs(specs: PipelineSpecs) -> dg.Definitions:
    """The box's definitions for ``specs``."""
    built = [build_backtest(spec) for spec in specs.backtests]
    targets = specs.targets_spec()
    return dg.Definitions(
        assets=[asset for asset, _ in built] + ([build_target_positions(targets)] if targets else []),
        asset_checks=[check for _, check in built],
    )


defs = build_defs(load_specs(get_settings()))

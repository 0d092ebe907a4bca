"""Strategy box: the default TopkDropout backtest with its reconciliation check, and daily target positions."""

import dagster as dg

from aistock_pipelines.defs.strategy.assets import backtest_topk_dropout, target_positions
from aistock_pipelines.defs.strategy.checks import reconcile_topk_dropout

defs = dg.Definitions(assets=[backtest_topk_dropout, target_positions], asset_checks=[reconcile_topk_dropout])

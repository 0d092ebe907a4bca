"""Research's reference configs: what RD-Agent's Qlib templates run when a loop does not say otherwise.

The LightGBM model block is RD-Agent's template (the shared RD-Agent contract, rdagent.md §9: Qlib's benchmark
LGBModel); the backtest block is the Qlib workflow's ``port_analysis_config.backtest`` defaults (CSI 300
benchmark, ±9.5 % limits, close price, 5/15 bp costs with a 5-yuan minimum). An ExperimentRequest falls back to
them for a loop the catalog does not hold; the demo derives its own configs from them.
"""

from __future__ import annotations

from typing import Any

QLIB_BENCHMARK_BACKTEST: dict[str, Any] = {"benchmark": "SH000300", "exchange_kwargs": {
    "limit_threshold": 0.095, "deal_price": "close", "open_cost": 0.0005, "close_cost": 0.0015, "min_cost": 5}}

RDAGENT_LGB_CONFIG: dict[str, Any] = {"class": "LGBModel", "module_path": "qlib.contrib.model.gbdt", "kwargs": {
    "loss": "mse", "device_type": "cpu", "max_bin": 63, "colsample_bytree": 0.8879, "learning_rate": 0.2,
    "subsample": 0.8789, "lambda_l1": 205.6999, "lambda_l2": 580.9768, "max_depth": 8, "num_leaves": 210,
    "num_threads": 20}}

"""Strategies (scores + holdings → target positions) and backtests in Qlib-exact and A-share-real modes.

`spec` is the entry point other code uses: a `BacktestSpec` (strategy and backtest blocks as RD-Agent's catalogs
spell them, window, scores) run by `run_and_write` — the one flow the ``aistock backtest`` command and the
Dagster backtest assets share — and `recorded_kpis`, which picks what a replay is reconciled with.
"""

"""Strategies (scores + holdings → target positions) and backtests in Qlib-exact and A-share-real modes."""

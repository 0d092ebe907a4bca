"""Backtest engines: Qlib-exact mode (`qlib_mode`) and A-share-real mode (`ashare_mode`); report, risk, plots."""

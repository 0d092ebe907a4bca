"""Write a `BacktestResult` as files (report/positions/trades/events Parquet, risk.json, nav.png), all or nothing.

Everything goes into a temporary sibling folder first and is renamed into place, so an error half-way never
leaves a partial output directory (an existing one is replaced only when the new one is complete).
"""

from __future__ import annotations

import json
from pathlib import Path

from aistock_core.data.store import atomic_path
from aistock_core.strategy.backtest.plot import write_nav_png
from aistock_core.strategy.backtest.report import BacktestResult

OUTPUT_FILES = ("report.parquet", "positions.parquet", "trades.parquet", "events.parquet", "risk.json", "nav.png")


def write_outputs(
    result: BacktestResult, out_dir: str | Path, init_cash: float, meta: dict | None = None, title: str | None = None,
    *, force: bool = False,
) -> Path:
    """Write the outputs into ``out_dir``; ``title`` heads nav.png (default: the mode). An existing ``out_dir``
    is replaced only when an earlier run wrote it (or ``force``): see `atomic_path`."""
    out = Path(out_dir).expanduser().resolve()
    with atomic_path(out, force=force) as tmp:
        tmp.mkdir()
        result.report.to_parquet(tmp / "report.parquet")
        result.positions.to_parquet(tmp / "positions.parquet")
        result.trades.to_parquet(tmp / "trades.parquet")
        result.events.to_parquet(tmp / "events.parquet")
        payload = {"mode": result.mode, "metrics": result.risk, "trade_counts": result.trade_counts(), **(meta or {})}
        if result.corporate_actions:
            payload["corporate_actions"] = result.corporate_actions
        (tmp / "risk.json").write_text(json.dumps(payload, indent=1, default=str))
        write_nav_png(result.report, init_cash, tmp / "nav.png", title=title or f"{result.mode} mode")
    return out

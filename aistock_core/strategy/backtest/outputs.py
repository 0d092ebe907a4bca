"""Write a `BacktestResult` as files (report/positions/trades/events Parquet, risk.json, nav.png), all or nothing.

Everything goes into a temporary sibling folder first and is renamed into place, so an error half-way never
leaves a partial output directory (an existing one is replaced only when the new one is complete).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from aistock_core.data.store import atomic_path
from aistock_core.strategy.backtest.plot import nav_curves, write_nav_png
from aistock_core.strategy.backtest.report import BacktestResult

if TYPE_CHECKING:
    from aistock_core.strategy.backtest.chart_process import NavChartProcess

OUTPUT_FILES = ("report.parquet", "positions.parquet", "trades.parquet", "events.parquet", "risk.json", "nav.png")


def write_outputs(
    result: BacktestResult, out_dir: str | Path, init_cash: float, meta: dict | None = None, title: str | None = None,
    *, force: bool = False, chart: NavChartProcess | None = None,
) -> Path:
    """Write the outputs into ``out_dir``; ``title`` heads nav.png (default: the mode). An existing ``out_dir``
    is replaced only when an earlier run wrote it (or ``force``): see `atomic_path`. ``chart``: a started
    chart process that draws nav.png while the other files are written (default: drawn here)."""
    out = Path(out_dir).expanduser().resolve()
    with atomic_path(out, force=force) as tmp:
        tmp.mkdir()
        with _nav_png(result, init_cash, tmp / "nav.png", title or f"{result.mode} mode", chart):
            result.report.to_parquet(tmp / "report.parquet")
            result.positions.to_parquet(tmp / "positions.parquet")
            result.trades.to_parquet(tmp / "trades.parquet")
            result.events.to_parquet(tmp / "events.parquet")
            payload = {"mode": result.mode, "metrics": result.risk, "trade_counts": result.trade_counts(),
                       **(meta or {})}
            if result.corporate_actions:
                payload["corporate_actions"] = result.corporate_actions
            (tmp / "risk.json").write_text(json.dumps(payload, indent=1, default=str))
    return out


@contextmanager
def _nav_png(result: BacktestResult, init_cash: float, path: Path, title: str,
             chart: NavChartProcess | None) -> Iterator[None]:
    """nav.png at ``path``: drawn by ``chart`` while the block runs (done when it ends), else drawn here."""
    if chart is None:
        write_nav_png(result.report, init_cash, path, title=title)
        yield
    else:
        with chart.drawing(nav_curves(result.report, init_cash), path, title):
            yield

"""NAV and drawdown chart of a backtest (matplotlib's Agg canvas: works headless in Dagster and the CLI).

Drawn on a bare `Figure` with an Agg canvas rather than through pyplot: no global figure state to close, no
backend selection, and matplotlib is imported only when a chart is drawn.

RD-Agent stopped rendering ret/dd curves in Phase 3 (rdagent.md §4.7), so the curves are drawn from the report.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

#: Fixed margins (figure fractions): what ``tight_layout`` chooses for this chart, without the extra pass over
#: every tick label it costs to find them (a third of the drawing time).
MARGINS = {"left": 0.09, "right": 0.97, "top": 0.94, "bottom": 0.065, "hspace": 0.08}


def nav_png(report: pd.DataFrame, init_cash: float, title: str = "backtest") -> bytes:
    """PNG bytes: NAV with and without cost vs the benchmark (sum-compounded as Qlib plots), and drawdown."""
    net = (report["return"] - report["cost"]).cumsum()
    gross = report["return"].cumsum()
    bench = report["bench"].astype(float).cumsum()
    nav = report["account"] / init_cash
    drawdown = nav / nav.cummax().clip(lower=1.0) - 1
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 6))
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot(nav.index, nav, label="NAV (account / initial)", lw=1.4)
    top.plot(gross.index, 1 + gross, label="cum. return w/o cost", lw=0.9, alpha=0.8)
    top.plot(net.index, 1 + net, label="cum. return with cost", lw=0.9, alpha=0.8)
    top.plot(bench.index, 1 + bench, label="benchmark", lw=0.9, color="grey")
    top.set_title(title)
    top.legend(loc="upper left", fontsize=8)
    top.grid(alpha=0.3)
    bottom.fill_between(drawdown.index, drawdown, 0, color="tab:red", alpha=0.4)
    bottom.set_ylabel("drawdown")
    bottom.grid(alpha=0.3)
    fig.subplots_adjust(**MARGINS)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return buf.getvalue()


def write_nav_png(report: pd.DataFrame, init_cash: float, path: str | Path, title: str = "backtest") -> Path:
    path = Path(path)
    path.write_bytes(nav_png(report, init_cash, title))
    return path

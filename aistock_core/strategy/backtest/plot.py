"""NAV and drawdown chart of a backtest (matplotlib's Agg canvas: works headless in Dagster and the CLI).

Drawn on a bare `Figure` with an Agg canvas rather than through pyplot: no global figure state to close, no
backend selection, and matplotlib is imported only when a chart is drawn.

The chart is two steps: `nav_curves` turns the report into plain arrays (pandas, in the process that ran the
backtest) and `draw_nav_png` draws them (numpy and matplotlib only). The split lets the command line draw in a
separate process that imports matplotlib while the backtest runs (`chart_process`); Dagster and the library call
`nav_png`, both steps in-process. This module imports neither numpy, pandas nor matplotlib at load time: the
command line imports it before it starts the chart process.

RD-Agent stopped rendering ret/dd curves in Phase 3 (rdagent.md §4.7), so the curves are drawn from the report.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

#: Fixed margins (figure fractions): what ``tight_layout`` chooses for this chart, without the extra pass over
#: every tick label it costs to find them (a third of the drawing time).
MARGINS = {"left": 0.09, "right": 0.97, "top": 0.94, "bottom": 0.065, "hspace": 0.08}


class NavCurves(NamedTuple):
    """What the chart shows, one value per report day (``dates``: datetime64)."""

    dates: np.ndarray
    nav: np.ndarray
    gross: np.ndarray
    net: np.ndarray
    bench: np.ndarray
    drawdown: np.ndarray


def nav_curves(report: pd.DataFrame, init_cash: float) -> NavCurves:
    """NAV, cumulative return with and without cost and the benchmark (sum-compounded as Qlib plots), drawdown."""
    nav = report["account"] / init_cash
    return NavCurves(
        dates=report.index.to_numpy(dtype="datetime64[ns]"),
        nav=nav.to_numpy(dtype=float),
        gross=1 + report["return"].cumsum().to_numpy(dtype=float),
        net=1 + (report["return"] - report["cost"]).cumsum().to_numpy(dtype=float),
        bench=1 + report["bench"].astype(float).cumsum().to_numpy(dtype=float),
        drawdown=(nav / nav.cummax().clip(lower=1.0) - 1).to_numpy(dtype=float),
    )


def draw_nav_png(curves: NavCurves, title: str = "backtest") -> bytes:
    """PNG bytes of ``curves``: the four lines on top, the drawdown below."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 6))
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot(curves.dates, curves.nav, label="NAV (account / initial)", lw=1.4)
    top.plot(curves.dates, curves.gross, label="cum. return w/o cost", lw=0.9, alpha=0.8)
    top.plot(curves.dates, curves.net, label="cum. return with cost", lw=0.9, alpha=0.8)
    top.plot(curves.dates, curves.bench, label="benchmark", lw=0.9, color="grey")
    top.set_title(title, y=1.0)  # where matplotlib puts it anyway, without measuring every tick label to check
    top.legend(loc="upper left", fontsize=8)
    top.grid(alpha=0.3)
    bottom.fill_between(curves.dates, curves.drawdown, 0, color="tab:red", alpha=0.4)
    bottom.set_ylabel("drawdown")
    bottom.grid(alpha=0.3)
    fig.subplots_adjust(**MARGINS)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return buf.getvalue()


def nav_png(report: pd.DataFrame, init_cash: float, title: str = "backtest") -> bytes:
    """PNG bytes of the report's chart, drawn in this process."""
    return draw_nav_png(nav_curves(report, init_cash), title)


def write_nav_png(report: pd.DataFrame, init_cash: float, path: str | Path, title: str = "backtest") -> Path:
    path = Path(path)
    path.write_bytes(nav_png(report, init_cash, title))
    return path

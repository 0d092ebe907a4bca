"""The comparison page: one self-contained interactive HTML (plotly, its JavaScript inlined) and a PNG.

One line per instance plus the index, legend toggles, a range selector and slider, unified hover values, and the
KPI table under the chart. Both files are written atomically (temporary sibling, then rename).
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from aistock_core.data.store import atomic_path

_PERCENT = ("total_return", "annual_return", "volatility", "max_drawdown", "excess_return", "win_days")


def _kpi_cells(table: pd.DataFrame) -> list[list[str]]:
    cells = [list(table.index)]
    for col in table.columns:
        fmt = "{:.2%}" if col in _PERCENT else ("{:.0f}" if col == "days" else "{:.2f}")
        cells.append([fmt.format(v) if pd.notna(v) else "" for v in table[col]])
    return cells


def report_html(nav: pd.DataFrame, table: pd.DataFrame, title: str) -> str:
    """The page as one HTML string (plotly.js inlined: opens offline)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=2, cols=1, row_heights=[0.68, 0.32], vertical_spacing=0.1,
                        specs=[[{"type": "xy"}], [{"type": "table"}]])
    for name in nav.columns:
        benchmark = name == nav.columns[-1]
        fig.add_trace(go.Scatter(x=nav.index, y=nav[name], name=name, mode="lines",
                                 line={"dash": "dot", "color": "grey"} if benchmark else {},
                                 hovertemplate="%{y:.4f}"), row=1, col=1)
    fig.add_trace(go.Table(header={"values": ["series", *table.columns]}, cells={"values": _kpi_cells(table)}),
                  row=2, col=1)
    fig.update_xaxes(row=1, col=1, rangeslider={"visible": True, "thickness": 0.05}, rangeselector={"buttons": [
        {"count": 1, "label": "1m", "step": "month", "stepmode": "backward"},
        {"count": 3, "label": "3m", "step": "month", "stepmode": "backward"},
        {"count": 6, "label": "6m", "step": "month", "stepmode": "backward"},
        {"count": 1, "label": "YTD", "step": "year", "stepmode": "todate"},
        {"count": 1, "label": "1y", "step": "year", "stepmode": "backward"},
        {"step": "all", "label": "all"}]})
    fig.update_yaxes(title_text="NAV", row=1, col=1)
    fig.update_layout(title=title, hovermode="x unified", height=900, template="plotly_white")
    return fig.to_html(full_html=True, include_plotlyjs=True, div_id="preview-nav")


def report_png(nav: pd.DataFrame, title: str) -> bytes:
    fig, ax = plt.subplots(figsize=(10, 5))
    for name in nav.columns:
        benchmark = name == nav.columns[-1]
        ax.plot(nav.index, nav[name], label=name, lw=1.0 if benchmark else 1.3,
                **({"color": "grey", "ls": ":"} if benchmark else {}))
    ax.set_title(title)
    ax.set_ylabel("NAV")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=7, ncol=2)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def write_report(nav: pd.DataFrame, table: pd.DataFrame, out: Path, title: str = "Preview NAV") -> tuple[Path, Path]:
    """Write ``out`` (HTML) and ``out`` with ``.png``; returns both paths."""
    out = Path(out)
    png = out.with_suffix(".png")
    with atomic_path(out) as tmp:
        tmp.write_text(report_html(nav, table, title), encoding="utf-8")
    with atomic_path(png) as tmp:
        tmp.write_bytes(report_png(nav, title))
    return out, png

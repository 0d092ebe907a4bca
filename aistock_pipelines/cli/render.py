"""Terminal rendering shared by every ``aistock`` command: DataFrames and key/value summaries as rich tables.

Commands print what a person reads at a terminal, so the formatting decisions live here, once: each float
column gets one number of decimals chosen from its magnitude (prices ``10.2345``, volumes ``1,234,567``,
factors ``0.987654``), so digits line up down a column; missing values are a dim ``—`` rather than ``nan``;
trade dates drop their midnight time; long frames show their head and tail around an elision row, with
the full shape and the number of rows left out in the caption so nothing is hidden silently.

Output goes through `make_console`, which resolves the stream at print time (so ``typer.testing.CliRunner``
captures it) and uses a wide fixed width when the output is not a terminal (pipes, files, tests), so tables
are not folded to 80 columns there.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

#: Significant digits shown for a float column's typical (median absolute) value.
SIGNIFICANT_DIGITS = 6
MAX_DECIMALS = 8
#: Width used when stdout/stderr is not a terminal (a pipe, a file, a test runner).
NON_TERMINAL_WIDTH = 160
MISSING = Text("—", style="dim")

Formatter = str | Callable[[Any], str]


def make_console(*, stderr: bool = False) -> Console:
    """A console on stdout (or stderr); fixed wide width off a terminal so piped tables are not folded."""
    console = Console(stderr=stderr, highlight=False, soft_wrap=False)
    if not console.is_terminal:
        console = Console(stderr=stderr, highlight=False, soft_wrap=False, width=NON_TERMINAL_WIDTH)
    return console


def float_decimals(values: np.ndarray, significant: int = SIGNIFICANT_DIGITS) -> int:
    """Decimals that show ``significant`` digits of the column's median magnitude (0 for whole numbers)."""
    arr = np.asarray(values, dtype=np.float64)
    finite = arr[np.isfinite(arr)]
    if finite.size == 0:
        return 2
    if np.all(finite == np.round(finite)) and np.all(np.abs(finite) < 1e15):
        return 0
    magnitude = np.median(np.abs(finite[finite != 0])) if np.any(finite != 0) else 1.0
    decimals = int(min(max(significant - 1 - math.floor(math.log10(magnitude)), 0), MAX_DECIMALS))
    # Fewer decimals when they show every value just as well: 1.5 and 2.25 print as 1.50, 2.25, not 1.50000.
    target = np.round(finite, decimals)
    for fewer in range(decimals):
        if np.array_equal(np.round(finite, fewer), target):
            return fewer
    return decimals


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _is_missing(value: Any) -> bool:
    return value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def _datetime_formatter(values: pd.Series) -> Callable[[Any], str]:
    """Dates at midnight print as ``YYYY-MM-DD``; anything with a time of day keeps ``HH:MM:SS``."""
    stamps = pd.to_datetime(values)
    if stamps.dt.tz is not None:
        stamps = stamps.dt.tz_localize(None)
    dates_only = bool((stamps.dropna() == stamps.dropna().dt.normalize()).all())
    pattern = "%Y-%m-%d" if dates_only else "%Y-%m-%d %H:%M:%S"
    return lambda v: pd.Timestamp(v).strftime(pattern)


def column_formatter(values: pd.Series, spec: Formatter | None = None) -> tuple[Callable[[Any], str], bool]:
    """A formatter for one column and whether it is numeric (right-justified).

    ``spec`` overrides the automatic choice: a format string (``"{:.2%}"``) or a callable.
    """
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if spec is not None:
        return (spec.format if isinstance(spec, str) else spec), numeric
    if pd.api.types.is_bool_dtype(values):
        return (lambda v: "yes" if v else "no"), False
    if pd.api.types.is_datetime64_any_dtype(values):
        return _datetime_formatter(values), False
    if pd.api.types.is_integer_dtype(values):
        return (lambda v: f"{int(v):,}"), True
    if numeric:
        decimals = float_decimals(values.to_numpy(dtype=np.float64, na_value=np.nan))
        return (lambda v: f"{float(v):,.{decimals}f}"), True
    return str, False


def _cells(values: pd.Series, fmt: Callable[[Any], str], signed: bool, up: str, down: str) -> list[Text]:
    cells = []
    for value in values.tolist():
        if _is_missing(value):
            cells.append(MISSING)
            continue
        style = ""
        if signed and isinstance(value, int | float) and value != 0:
            style = up if value > 0 else down
        cells.append(Text(fmt(value), style=style))
    return cells


def frame_table(
    frame: pd.DataFrame,
    *,
    title: str | None = None,
    max_rows: int = 40,
    formats: Mapping[str, Formatter] | None = None,
    signed: Iterable[str] = (),
    index: bool = True,
    up_style: str = "red",
    down_style: str = "green",
) -> Table:
    """A rich `Table` of ``frame``: index levels first (bold), then the columns, formatted per column.

    ``max_rows``: above it, the first and last halves are shown around an elision row. ``formats``: per-column
    override (format string or callable). ``signed``: columns coloured by sign, A-share style by default
    (up red, down green). ``index=False`` hides a meaningless RangeIndex.
    """
    formats = dict(formats or {})
    signed = set(signed)
    shown = frame.reset_index() if index and not isinstance(frame.index, pd.RangeIndex) else frame
    index_names = [str(n) for n in shown.columns[: shown.shape[1] - frame.shape[1]]]
    total = len(shown)
    if total > max_rows:
        head = max(max_rows // 2, 1)
        tail = max(max_rows - head, 1)
        parts = (shown.iloc[:head], shown.iloc[total - tail :])
    else:
        parts = (shown,)

    caption = f"{_plural(total, 'row')} × {_plural(frame.shape[1], 'column')}"
    if total > max_rows:
        head_n, tail_n = len(parts[0]), len(parts[1])
        caption += f"; {total - head_n - tail_n:,} rows elided (first {head_n}, last {tail_n})"
    specs = []
    for name in shown.columns:
        label = str(name)
        fmt, numeric = column_formatter(shown[name], formats.get(label))
        cells = [_cells(part[name], fmt, label in signed, up_style, down_style) for part in parts]
        width = max([len(label), *(cell.cell_len for part in cells for cell in part)])
        specs.append((label, numeric, label in index_names, cells, width))

    # A title or caption longer than the table would wrap; widen the last column only, so the others keep
    # their natural width (rich's own min_width would spread the extra space over every column).
    natural = sum(width + 3 for *_, width in specs) + 1  # padding 1+1 and one border per column, plus the last
    extra = max(len(caption), len(title or "")) - natural
    table = Table(title=title, caption=caption, caption_justify="right", header_style="bold")
    for k, (label, numeric, is_index, _, width) in enumerate(specs):
        table.add_column(label, justify="right" if numeric else "left", no_wrap=True,
                         style="bold cyan" if is_index else None,
                         min_width=width + extra if k == len(specs) - 1 and extra > 0 else None)

    for n in range(len(parts)):
        if n == 1:  # the elision row; how many rows it stands for is in the caption
            table.add_row(*[Text("⋮", style="dim", justify="center")] * len(specs))
        for row in zip(*(cells[n] for *_, cells, _ in specs), strict=True):
            table.add_row(*row)
    return table


def kv_table(items: Mapping[str, Any], *, title: str | None = None) -> Table:
    """A two-column summary (``what: value``) for a command's result: counts, paths, date ranges."""
    table = Table(title=title, show_header=False, box=None, pad_edge=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    for key, value in items.items():
        if _is_missing(value):
            table.add_row(key, MISSING)
        elif isinstance(value, pd.Timestamp):
            table.add_row(key, value.strftime("%Y-%m-%d" if value == value.normalize() else "%Y-%m-%d %H:%M:%S"))
        elif isinstance(value, int) and not isinstance(value, bool):
            table.add_row(key, f"{value:,}")
        else:
            table.add_row(key, str(value))
    return table


def print_frame(frame: pd.DataFrame, *, console: Console | None = None, **options: Any) -> None:
    """Print ``frame`` with `frame_table` (``options`` are its keywords) to ``console`` (default stdout)."""
    (console or make_console()).print(frame_table(frame, **options))


__all__ = ["column_formatter", "float_decimals", "frame_table", "kv_table", "make_console", "print_frame"]


#: The ``--json`` flag of read commands.
AsJson = Annotated[bool, typer.Option("--json", help="Pure JSON on stdout instead of tables.")]


def echo_json(payload: Any, indent: int | None = None) -> None:
    """One JSON document on stdout (dates and other objects as strings); warnings never go here."""
    typer.echo(json.dumps(payload, ensure_ascii=False, default=str, indent=indent))

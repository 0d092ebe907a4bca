"""Shared table rendering: per-column formatting, missing values, elision, key/value summaries."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from aistock_pipelines.cli.render import float_decimals, frame_table, kv_table, make_console, print_frame


def _text(renderable, width: int = 200) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(renderable)
    return console.file.getvalue()


def _rows(text: str) -> list[list[str]]:
    """Body rows of a rendered table as lists of stripped cells."""
    return [[c.strip() for c in line.strip("│").split("│")] for line in text.splitlines() if line.startswith("│")]


@pytest.mark.parametrize(
    ("values", "decimals"),
    [
        ([10.23, 11.5, 9.87], 2),  # prices with cents: no more digits than the data has
        ([10.2345678, 11.5, 9.87], 4),  # six significant digits of ~10
        ([1234567.0, 2345678.0], 0),  # whole numbers
        ([1234567.25, 2345678.5], 0),  # six significant digits leave no decimals at this magnitude
        ([0.98765432, 0.5], 6),
        ([0.00012345, 0.0002], 8),  # capped
        ([np.nan, np.nan], 2),
        ([1.5, 2.25], 2),
    ],
)
def test_float_decimals(values, decimals):
    assert float_decimals(np.array(values)) == decimals


def test_frame_table_formats_index_and_columns():
    index = pd.MultiIndex.from_product([pd.to_datetime(["2024-01-02", "2024-01-03"]), ["600000.SH"]],
                                       names=["datetime", "instrument"])
    frame = pd.DataFrame({"close": [10.5, np.nan], "volume": [1234567.0, 7654321.0], "n": [1, 2],
                          "st": [True, False]}, index=index)
    text = _text(frame_table(frame, title="bars"))
    assert "bars" in text
    header = next(line for line in text.splitlines() if "datetime" in line)
    assert [h.strip() for h in header.strip("┃").split("┃")] == ["datetime", "instrument", "close", "volume", "n",
                                                                  "st"]
    assert _rows(text) == [
        ["2024-01-02", "600000.SH", "10.5", "1,234,567", "1", "yes"],
        ["2024-01-03", "600000.SH", "—", "7,654,321", "2", "no"],
    ]
    assert "2 rows × 4 columns" in text


def test_times_of_day_are_kept_when_present():
    frame = pd.DataFrame({"at": pd.to_datetime(["2024-06-03 10:15:00", "2024-06-03 15:00:00"])})
    assert [r[0] for r in _rows(_text(frame_table(frame, index=False)))] == ["2024-06-03 10:15:00",
                                                                            "2024-06-03 15:00:00"]


def test_long_frames_show_head_and_tail_and_say_what_was_elided():
    frame = pd.DataFrame({"x": np.arange(100)})
    text = _text(frame_table(frame, max_rows=6, index=False))
    rows = _rows(text)
    assert [r[0] for r in rows] == ["0", "1", "2", "⋮", "97", "98", "99"]
    assert "100 rows × 1 column; 94 rows elided (first 3, last 3)" in text


def test_formats_override_and_signed_columns_are_coloured():
    frame = pd.DataFrame({"pct": [0.0123, -0.05, 0.0]})
    table = frame_table(frame, index=False, formats={"pct": "{:+.2%}"}, signed=["pct"])
    assert [r[0] for r in _rows(_text(table))] == ["+1.23%", "-5.00%", "+0.00%"]
    cells = table.columns[0]._cells
    assert [c.style for c in cells] == ["red", "green", ""]


def test_default_index_is_shown_only_when_meaningful():
    frame = pd.DataFrame({"a": [1, 2]}, index=pd.Index(["x", "y"], name="code"))
    assert _rows(_text(frame_table(frame))) == [["x", "1"], ["y", "2"]]
    assert _rows(_text(frame_table(frame.reset_index(drop=True)))) == [["1"], ["2"]]


def test_brackets_in_values_are_not_markup():
    frame = pd.DataFrame({"note": ["[bold]x[/bold]", "[red]"]})
    assert [r[0] for r in _rows(_text(frame_table(frame, index=False)))] == ["[bold]x[/bold]", "[red]"]


def test_kv_table():
    text = _text(kv_table({"files": 12345, "first": pd.Timestamp("2024-01-02"), "missing": None, "path": "/tmp/q"}))
    lines = [line.split() for line in text.splitlines() if line.strip()]
    assert lines == [["files", "12,345"], ["first", "2024-01-02"], ["missing", "—"], ["path", "/tmp/q"]]


def test_print_frame_off_a_terminal_uses_a_wide_console(capsys):
    frame = pd.DataFrame({f"column_{i}": [float(i)] for i in range(12)})
    print_frame(frame, index=False)
    out = capsys.readouterr().out
    assert "column_0" in out and "column_11" in out
    assert max(len(line) for line in out.splitlines()) > 80  # not folded to 80 columns
    assert not make_console().is_terminal


def test_a_long_title_widens_only_the_last_column():
    frame = pd.DataFrame({"code": ["600000.SH"], "x": [1.5]})
    text = _text(frame_table(frame, index=False, title="a title much longer than this small table is"))
    lines = text.splitlines()
    assert lines[0].strip() == "a title much longer than this small table is"  # not wrapped
    top = lines[1]
    first, _ = top.strip("┏┓").split("┳")
    assert len(first) == len("600000.SH") + 2  # natural width plus padding
    assert len(top) == len("a title much longer than this small table is")

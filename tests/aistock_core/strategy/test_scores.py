"""Score frames: code spellings, validation errors, and filing by session window."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aistock_core.errors import StrategyError
from aistock_core.strategy.scores import align_scores, normalise_scores, read_score_file

DATES = pd.DatetimeIndex(["2024-01-04", "2024-01-05", "2024-01-08"], name="datetime")
INSTR = pd.Index(["600000.SH", "000001.SZ"], name="instrument")


def frame(rows):
    idx = pd.MultiIndex.from_tuples([(pd.Timestamp(d), c) for d, c, _ in rows], names=["datetime", "instrument"])
    return pd.DataFrame({"score": [s for *_, s in rows]}, index=idx)


def test_both_spellings_give_the_same_grid():
    a = frame([("2024-01-04", "SH600000", 0.1), ("2024-01-04", "SZ000001", -0.2)])
    b = frame([("2024-01-04", "600000.SH", 0.1), ("2024-01-04", "000001.SZ", -0.2)])
    ga = align_scores(normalise_scores(a), DATES, INSTR)
    np.testing.assert_array_equal(ga, align_scores(normalise_scores(b), DATES, INSTR))
    assert ga[0].tolist() == [0.1, -0.2] and np.isnan(ga[1:]).all()


def test_instrument_first_order_is_swapped():
    f = frame([("2024-01-05", "SH600000", 0.3)]).swaplevel()
    assert align_scores(normalise_scores(f), DATES, INSTR)[1, 0] == 0.3


def test_weekend_date_is_filed_under_the_previous_session_and_latest_wins():
    f = frame([("2024-01-05", "SH600000", 0.1), ("2024-01-06", "SH600000", 0.9)])
    grid = align_scores(normalise_scores(f), DATES, INSTR)
    assert grid[1, 0] == 0.9


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([("2024-01-04", "SH600000", 0.1), ("2024-01-04", "600000.SH", 0.2)], "duplicate"),
        ([("2024-01-04", "SH600000", np.nan)], "NaN"),
        ([("2024-01-04", "XX", 0.1)], "cannot be read"),
    ],
)
def test_bad_frames_raise(rows, message):
    with pytest.raises(StrategyError, match=message):
        normalise_scores(frame(rows))


def test_unknown_instrument_and_no_overlap_raise():
    with pytest.raises(StrategyError, match="outside the backtest universe"):
        align_scores(normalise_scores(frame([("2024-01-04", "600519.SH", 0.1)])), DATES, INSTR)
    with pytest.raises(StrategyError, match="no score date overlaps"):
        align_scores(normalise_scores(frame([("2023-01-04", "600000.SH", 0.1)])), DATES, INSTR)


def test_read_score_file_parquet_and_missing(tmp_path):
    f = frame([("2024-01-04", "SH600000", 0.1)])
    f.reset_index().to_parquet(tmp_path / "s.parquet")
    assert read_score_file(tmp_path / "s.parquet").iloc[0] == 0.1
    with pytest.raises(StrategyError, match="does not exist"):
        read_score_file(tmp_path / "nope.parquet")


@pytest.mark.parametrize("indexed", [True, False], ids=["index", "columns"])
def test_score_file_read_with_categorical_codes_is_the_plain_read(tmp_path, indexed):
    """read_score_file decodes the instrument column as a categorical: the same scores as a plain read, with
    both spellings, a missing code and a duplicate after conversion still caught."""
    f = frame([("2024-01-04", "SH600000", 0.1), ("2024-01-04", "000001.SZ", -0.2), ("2024-01-05", "SZ000001", 0.3)])
    (f if indexed else f.reset_index()).to_parquet(tmp_path / "s.parquet")
    read = read_score_file(tmp_path / "s.parquet")
    plain = pd.read_parquet(tmp_path / "s.parquet")
    pd.testing.assert_series_equal(read, normalise_scores(plain if indexed else plain.set_index(["datetime",
                                                                                                 "instrument"])))
    frame([("2024-01-04", "SH600000", 0.1), ("2024-01-04", "600000.SH", 0.2)]).to_parquet(tmp_path / "dup.parquet")
    with pytest.raises(StrategyError, match="duplicate"):
        read_score_file(tmp_path / "dup.parquet")
    pd.DataFrame({"datetime": [pd.Timestamp("2024-01-04")] * 2, "instrument": ["SH600000", None],
                  "score": [0.1, 0.2]}).to_parquet(tmp_path / "gap.parquet")
    with pytest.raises(StrategyError, match="missing datetime or instrument"):
        read_score_file(tmp_path / "gap.parquet")

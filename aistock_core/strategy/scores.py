"""Score frames: validate a model's predictions and align them to a backtest's (session × instrument) grid.

A score frame is indexed by ``(datetime, instrument)`` with a ``score`` column (Qlib's ``pred.pkl`` has the
same shape; its ``(instrument, datetime)`` order is accepted and swapped). Codes may be spelled ``SH600000`` or
``600000.SH``. Each score is filed under the session whose window holds its date (Qlib's ``resam_ts_data``
with ``last``: a date between two sessions belongs to the earlier one, the latest date wins), and a score
filed under session t drives the trades of session t+1.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from aistock_core.codes import to_internal_many
from aistock_core.data.tabular import read_table
from aistock_core.errors import InstrumentError, StrategyError


def _as_series(frame: pd.DataFrame | pd.Series) -> pd.Series:
    if isinstance(frame, pd.Series):
        return frame.rename("score")
    if "score" in frame.columns:
        return frame["score"]
    if frame.shape[1] == 1:
        return frame.iloc[:, 0].rename("score")
    raise StrategyError(f"score frame needs a 'score' column (or exactly one column); got {list(frame.columns)}")


@dataclass(frozen=True)
class _ScoreRows:
    """A validated score frame as integer codes: row r is (``dates[row_date[r]]``, ``codes[row_code[r]]``) →
    ``values[r]``, where ``dates``/``codes`` are the sorted distinct normalised dates and internal codes.

    ``order`` sorts the rows by (date, code) (None: already sorted). Both public paths start here: the sorted
    Series (`normalise_scores`) and the session grid (`score_grid`, which never builds the Series).
    """

    dates: pd.DatetimeIndex
    codes: pd.Index
    row_date: np.ndarray
    row_code: np.ndarray
    values: np.ndarray
    order: np.ndarray | None

    def series(self) -> pd.Series:
        take = slice(None) if self.order is None else self.order
        return pd.Series(self.values[take], index=pd.MultiIndex(
            levels=[self.dates, self.codes], codes=[self.row_date[take], self.row_code[take]],
            names=["datetime", "instrument"], verify_integrity=False), name="score")


def _score_rows(frame: pd.DataFrame | pd.Series) -> _ScoreRows:
    """Validate a score frame and convert its levels (each distinct code and date once, not once per row)."""
    s = _as_series(frame)
    idx = s.index
    if not isinstance(idx, pd.MultiIndex) or idx.nlevels != 2:
        raise StrategyError("score frame must be indexed by MultiIndex (datetime, instrument)")
    names = list(idx.names)
    if names == ["instrument", "datetime"]:
        s = s.swaplevel()
    elif names != ["datetime", "instrument"]:
        if pd.api.types.is_datetime64_any_dtype(idx.levels[1]) or isinstance(idx[0][1], pd.Timestamp):
            s = s.swaplevel()
        s.index = s.index.set_names(["datetime", "instrument"])
    # Only the level values some row uses count (a sliced frame keeps unused ones, which must not fail).
    index = s.index
    level = index.names.index("instrument")
    date_level, code_level = index.levels[1 - level], index.levels[level]
    date_codes, code_codes = index.codes[1 - level], index.codes[level]
    if len(date_codes) and min(date_codes.min(), code_codes.min()) < 0:
        raise StrategyError("score frame has rows with a missing datetime or instrument in its index; drop them")
    code_used = np.flatnonzero(np.bincount(code_codes, minlength=len(code_level)))
    date_used = np.flatnonzero(np.bincount(date_codes, minlength=len(date_level)))
    try:
        codes = pd.Index(to_internal_many(code_level[code_used].astype(str)), name="instrument")
    except InstrumentError as exc:
        raise StrategyError(f"score frame has an instrument code that cannot be read: {exc}") from exc
    try:
        dates = pd.DatetimeIndex(date_level[date_used])
    except (TypeError, ValueError) as exc:
        raise StrategyError(f"score frame's datetime level is not made of dates: {exc}") from exc
    if dates.tz is not None:
        dates = dates.tz_convert("Asia/Shanghai").tz_localize(None)
    # Several spellings of one code (SH600000, 600000.SH) collapse to one internal code: re-factorise.
    code_pos, code_levels = pd.factorize(codes, sort=True)
    date_pos, date_levels = pd.factorize(dates.normalize(), sort=True)
    rows = _ScoreRows(
        dates=pd.DatetimeIndex(date_levels, name="datetime"),
        codes=pd.Index(code_levels, name="instrument"),
        row_date=_remap(date_pos, date_used, len(date_level), len(date_levels))[date_codes],
        row_code=_remap(code_pos, code_used, len(code_level), len(code_levels))[code_codes],
        values=pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64),
        order=None,
    )
    bad = ~np.isfinite(rows.values)  # ±inf would rank first/last for ever, as wrong as NaN
    if bad.any():
        where = rows.series().index[np.flatnonzero(bad)[0]]
        raise StrategyError(
            f"score frame has {int(bad.sum())} NaN/infinite/non-numeric score(s), e.g. {where[1]} on "
            f"{where[0]:%Y-%m-%d}; "
            f"drop those rows (a missing score means 'not ranked') or fill them"
        )
    # Sorting and duplicate detection on one int64 key per row (levels are sorted, so key order = index order):
    # a stable integer argsort instead of pandas' MultiIndex duplicated() + sort_index().
    key = rows.row_date.astype(np.int64) * len(code_levels) + rows.row_code
    if len(key) < 2 or bool((key[1:] > key[:-1]).all()):
        return rows
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    if (ordered[1:] == ordered[:-1]).any():
        index = rows.series().index
        dup = index.duplicated()
        where = index[np.flatnonzero(dup)[0]]
        raise StrategyError(
            f"score frame has {int(dup.sum())} duplicate (datetime, instrument) key(s), e.g. {where[1]} on "
            f"{where[0]:%Y-%m-%d} (codes are compared after conversion: SH600000 and 600000.SH are the same)"
        )
    return replace(rows, order=order)


def _remap(pos: np.ndarray, used: np.ndarray, size: int, n_levels: int) -> np.ndarray:
    """Level code → position among the converted levels (unused codes: -1, no row has them), in the smallest
    integer type a MultiIndex keeps for ``n_levels`` (so building one does not convert the codes again)."""
    dtype = np.int8 if n_levels < 2**7 - 1 else np.int16 if n_levels < 2**15 - 1 else np.int32
    out = np.full(size, -1, dtype=dtype)
    out[used] = pos
    return out


def normalise_scores(frame: pd.DataFrame | pd.Series) -> pd.Series:
    """A clean ``score`` Series indexed (datetime, instrument) with internal codes, sorted.

    Raises `StrategyError` for a wrong index shape, bad codes, NaN scores or duplicate keys, naming examples.
    """
    return _score_rows(frame).series()


def score_grid(frame: pd.DataFrame | pd.Series, dates: pd.DatetimeIndex, instruments: pd.Index) -> np.ndarray:
    """``align_scores(normalise_scores(frame), dates, instruments)`` without building the sorted Series between
    them (the same checks and errors, the same grid; what a backtest calls)."""
    rows = _score_rows(frame)
    return _fill_grid(rows.dates, rows.codes, rows.row_date, rows.row_code, rows.values, dates, instruments)


def align_scores(scores: pd.Series, dates: pd.DatetimeIndex, instruments: pd.Index) -> np.ndarray:
    """(T, N) float64 scores filed by session (NaN: no score), from `normalise_scores` output.

    `StrategyError` if an instrument is not in the backtest universe, or if no score falls in the sessions.
    """
    # Work on the index's levels (distinct dates and codes) and map rows through their integer codes.
    index = scores.index.remove_unused_levels()
    date_code, inst_code = index.codes
    return _fill_grid(index.levels[0], index.levels[1], date_code, inst_code, scores.to_numpy(), dates, instruments)


def _fill_grid(
    level_dates: pd.Index,
    level_codes: pd.Index,
    date_code: np.ndarray,
    inst_code: np.ndarray,
    values: np.ndarray,
    dates: pd.DatetimeIndex,
    instruments: pd.Index,
) -> np.ndarray:
    """Scatter rows (codes into sorted distinct ``level_dates``/``level_codes``) into the session grid."""
    level_col = instruments.get_indexer(level_codes)
    if (level_col < 0).any():
        unknown = sorted(level_codes[level_col < 0])
        raise StrategyError(
            f"score frame names {len(unknown)} instrument(s) outside the backtest universe, e.g. {unknown[:5]}; "
            f"score only the universe's instruments (or widen the universe)"
        )
    level_slot = np.searchsorted(dates.values, level_dates.values, side="right") - 1
    level_keep = (level_slot >= 0) & (level_dates.values <= dates.values[-1])
    if not level_keep.any():
        raise StrategyError(
            f"no score date overlaps the backtest sessions {dates[0]:%Y-%m-%d}..{dates[-1]:%Y-%m-%d} (scores span "
            f"{level_dates[0]:%Y-%m-%d}..{level_dates[-1]:%Y-%m-%d})"
        )
    # One flat cell number per row (a 1-D scatter is cheaper than a 2-D one on ~10^6 rows).
    level_cell = np.where(level_keep, level_slot, 0).astype(np.int64) * len(instruments)
    cell = level_cell[date_code] + level_col[inst_code]
    if not level_keep.all():
        keep = level_keep[date_code]
        cell, values, date_code = cell[keep], values[keep], date_code[keep]
    out = np.full((len(dates), len(instruments)), np.nan)
    if len(np.unique(level_slot[level_keep])) < level_keep.sum():
        # Several dates share a session window: write in date order so the latest one wins ("last").
        order = np.argsort(date_code, kind="stable")
        cell, values = cell[order], values[order]
    out.reshape(-1)[cell] = values
    return out


def read_score_file(path: str | Path) -> pd.Series:
    """Read a score file (Parquet, or CSV with datetime/instrument/score columns) and normalise it."""
    frame = read_table(path, what="score file", error=StrategyError, categories=("instrument",))
    if frame.empty:
        raise StrategyError(f"score file {path} has no rows; a backtest needs at least one day of scores")
    if not isinstance(frame.index, pd.MultiIndex):
        missing = {"datetime", "instrument"} - set(frame.columns)
        if missing:
            raise StrategyError(f"score file {path} lacks column(s)/index level(s) {sorted(missing)}")
        frame = frame.set_index(["datetime", "instrument"])
    return normalise_scores(frame)

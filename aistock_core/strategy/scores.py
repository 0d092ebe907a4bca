"""Score frames: validate a model's predictions and align them to a backtest's (session × instrument) grid.

A score frame is indexed by ``(datetime, instrument)`` with a ``score`` column (Qlib's ``pred.pkl`` has the
same shape; its ``(instrument, datetime)`` order is accepted and swapped). Codes may be spelled ``SH600000`` or
``600000.SH``. Each score is filed under the session whose window holds its date (Qlib's ``resam_ts_data``
with ``last``: a date between two sessions belongs to the earlier one, the latest date wins), and a score
filed under session t drives the trades of session t+1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from aistock_core.codes import to_internal_many
from aistock_core.errors import InstrumentError, StrategyError


def _as_series(frame: pd.DataFrame | pd.Series) -> pd.Series:
    if isinstance(frame, pd.Series):
        return frame.rename("score")
    if "score" in frame.columns:
        return frame["score"]
    if frame.shape[1] == 1:
        return frame.iloc[:, 0].rename("score")
    raise StrategyError(f"score frame needs a 'score' column (or exactly one column); got {list(frame.columns)}")


def normalise_scores(frame: pd.DataFrame | pd.Series) -> pd.Series:
    """A clean ``score`` Series indexed (datetime, instrument) with internal codes, sorted.

    Raises `StrategyError` for a wrong index shape, bad codes, NaN scores or duplicate keys, naming examples.
    """
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
    # Convert each distinct code and date once (level values), not once per row: frames have ~10^6 rows.
    index = s.index.remove_unused_levels()
    level = index.names.index("instrument")
    try:
        codes = pd.Index(to_internal_many(index.levels[level].astype(str)), name="instrument")
    except InstrumentError as exc:
        raise StrategyError(f"score frame has an instrument code that cannot be read: {exc}") from exc
    try:
        dates = pd.DatetimeIndex(index.levels[1 - level])
    except (TypeError, ValueError) as exc:
        raise StrategyError(f"score frame's datetime level is not made of dates: {exc}") from exc
    if dates.tz is not None:
        dates = dates.tz_convert("Asia/Shanghai").tz_localize(None)
    date_codes, code_codes = index.codes[1 - level], index.codes[level]
    # Several spellings of one code (SH600000, 600000.SH) collapse to one internal code: re-factorise.
    code_pos, code_levels = pd.factorize(codes, sort=True)
    date_pos, date_levels = pd.factorize(dates.normalize(), sort=True)
    values = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64)
    out = pd.Series(values, index=pd.MultiIndex(
        levels=[pd.DatetimeIndex(date_levels, name="datetime"), pd.Index(code_levels, name="instrument")],
        codes=[date_pos[date_codes], code_pos[code_codes]], names=["datetime", "instrument"],
        verify_integrity=False), name="score")
    bad = np.isnan(values)
    if bad.any():
        where = out.index[np.flatnonzero(bad)[0]]
        raise StrategyError(
            f"score frame has {int(bad.sum())} NaN/non-numeric score(s), e.g. {where[1]} on {where[0]:%Y-%m-%d}; "
            f"drop those rows (a missing score means 'not ranked') or fill them"
        )
    dup = out.index.duplicated()
    if dup.any():
        where = out.index[np.flatnonzero(dup)[0]]
        raise StrategyError(
            f"score frame has {int(dup.sum())} duplicate (datetime, instrument) key(s), e.g. {where[1]} on "
            f"{where[0]:%Y-%m-%d} (codes are compared after conversion: SH600000 and 600000.SH are the same)"
        )
    return out if out.index.is_monotonic_increasing else out.sort_index()


def align_scores(scores: pd.Series, dates: pd.DatetimeIndex, instruments: pd.Index) -> np.ndarray:
    """(T, N) float64 scores filed by session (NaN: no score), from `normalise_scores` output.

    `StrategyError` if an instrument is not in the backtest universe, or if no score falls in the sessions.
    """
    # Work on the index's levels (distinct dates and codes) and map rows through their integer codes.
    index = scores.index.remove_unused_levels()
    level_dates, level_codes = index.levels
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
    date_code, inst_code = index.codes
    keep = level_keep[date_code]
    slot, col = level_slot[date_code][keep], level_col[inst_code][keep]
    values = scores.to_numpy()[keep]
    out = np.full((len(dates), len(instruments)), np.nan)
    if len(np.unique(level_slot[level_keep])) < level_keep.sum():
        # Several dates share a session window: write in date order so the latest one wins ("last").
        order = np.argsort(date_code[keep], kind="stable")
        slot, col, values = slot[order], col[order], values[order]
    out[slot, col] = values
    return out


def read_score_file(path: str | Path) -> pd.Series:
    """Read a score file (Parquet, or CSV with datetime/instrument/score columns) and normalise it."""
    path = Path(path)
    if not path.is_file():
        raise StrategyError(f"score file {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        elif suffix == ".csv":
            frame = pd.read_csv(path, parse_dates=["datetime"])
        else:
            raise StrategyError(f"score file {path} must be .parquet or .csv (pickles are not loaded: unsafe)")
    except (OSError, ValueError, KeyError) as exc:
        raise StrategyError(f"cannot read score file {path}: {exc}") from exc
    if not isinstance(frame.index, pd.MultiIndex):
        missing = {"datetime", "instrument"} - set(frame.columns)
        if missing:
            raise StrategyError(f"score file {path} lacks column(s)/index level(s) {sorted(missing)}")
        frame = frame.set_index(["datetime", "instrument"])
    return normalise_scores(frame)

"""Alignment references: the frames a migrated factor is compared with, in (datetime, instrument) form.

``qlib``: Qlib's own ``D.features`` on a Qlib bin directory (the research truth for Alpha158); ``parquet``: a
bundle's ``combined_factors_df.parquet`` (columns spelled ``"('feature','X')"``, rdagent.md §14.7). The
``code`` reference (the sandboxed RD-Agent code) is `aistock_core.factors.sandbox`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from aistock_core.codes import to_internal_many, to_qlib
from aistock_core.errors import FactorError

_FEATURE_COLUMN = re.compile(r"^\(\s*['\"]feature['\"]\s*,\s*['\"](?P<name>.+?)['\"]\s*\)$")


def _feature_name(column: object) -> str | None:
    """``('feature','X')`` (a tuple, or its string spelling) → ``X``; anything else (labels) → None."""
    if isinstance(column, tuple) and len(column) == 2:
        return str(column[1]) if column[0] == "feature" else None
    match = _FEATURE_COLUMN.match(str(column))
    if match:
        return match.group("name")
    try:
        parsed = ast.literal_eval(str(column))
    except (ValueError, SyntaxError):
        return str(column)
    return str(parsed[1]) if isinstance(parsed, tuple) and len(parsed) == 2 and parsed[0] == "feature" else None


def _normalise_index(frame: pd.DataFrame, where: str) -> pd.DataFrame:
    """(datetime, instrument) order, internal codes, naive dates, sorted: the form `compare` expects."""
    if frame.index.nlevels != 2:
        raise FactorError(f"{where}: index must have two levels (datetime, instrument), got {frame.index.names}")
    names = [str(n).lower() if n is not None else "" for n in frame.index.names]
    if names and names[0] == "instrument":
        frame = frame.swaplevel()
    dates = pd.DatetimeIndex(frame.index.get_level_values(0))
    if dates.tz is not None:
        dates = dates.tz_convert("Asia/Shanghai").tz_localize(None)
    try:
        codes = to_internal_many(frame.index.get_level_values(1).astype(str))
    except Exception as exc:
        raise FactorError(f"{where}: instrument codes cannot be read: {exc}") from exc
    frame = frame.set_axis(pd.MultiIndex.from_arrays([dates.normalize(), codes], names=["datetime", "instrument"]))
    if frame.index.has_duplicates:
        raise FactorError(f"{where}: duplicate (datetime, instrument) rows after normalising codes")
    return frame.sort_index()


def parquet_reference(path: str | Path, names: Sequence[str] | None = None) -> pd.DataFrame:
    """A bundle's ``combined_factors_df.parquet`` as a float64 frame with bare factor-name columns.

    Column strings ``"('feature','X')"`` (or real tuples) become ``X``; label columns are dropped.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise FactorError(f"reference parquet {file} does not exist")
    try:
        raw = pd.read_parquet(file)
    except Exception as exc:  # pyarrow raises several unrelated types for a corrupt file
        raise FactorError(f"cannot read reference parquet {file}: {exc}") from exc
    mapping = {c: _feature_name(c) for c in raw.columns}
    keep = {c: n for c, n in mapping.items() if n is not None}
    frame = raw[list(keep)].set_axis(list(keep.values()), axis=1)
    if frame.columns.has_duplicates:
        raise FactorError(f"reference parquet {file} has duplicate factor columns after parsing names")
    if names is not None:
        missing = [n for n in names if n not in frame.columns]
        if missing:
            raise FactorError(f"reference parquet {file} lacks factor(s) {missing}; it has {list(frame.columns)[:20]}")
        frame = frame[list(names)]
    return _normalise_index(frame.astype(np.float64), f"reference parquet {file}")


def qlib_available() -> bool:
    """True when pyqlib (the ``qlib`` extra) can be imported."""
    try:
        import qlib  # noqa: F401
    except ImportError:
        return False
    return True


_QLIB_URI: str | None = None


def qlib_reference(
    provider_uri: str | Path,
    expressions: Mapping[str, str],
    instruments: Sequence[str],
    *,
    start=None,
    end=None,
) -> pd.DataFrame:
    """Qlib's own ``D.features`` for ``expressions`` on a Qlib bin directory, as (datetime, instrument) frame.

    Qlib keeps global state: it is (re)initialised only when the directory changes, single-process
    (``kernels=1``) and without caches, so the reference is computed fresh each time.
    """
    global _QLIB_URI
    if not qlib_available():
        raise FactorError("the Qlib reference needs pyqlib: pip install 'aistock-pipelines[qlib]'")
    import logging

    import qlib
    from qlib.data import D

    uri = str(Path(provider_uri).expanduser().resolve())
    if not Path(uri, "calendars", "day.txt").is_file():
        raise FactorError(f"{uri} is not a Qlib data directory (no calendars/day.txt)")
    if uri != _QLIB_URI:
        qlib.init(provider_uri=uri, region="cn", kernels=1, expression_cache=None, dataset_cache=None,
                  logging_level=logging.WARNING)
        _QLIB_URI = uri
    names = list(expressions)
    fields = [expressions[n] for n in names]
    codes = [to_qlib(c) for c in instruments]
    try:
        raw = D.features(codes, fields, start_time=start, end_time=end, freq="day")
    except Exception as exc:  # qlib raises bare ValueError/KeyError for unknown fields or codes
        raise FactorError(f"Qlib could not compute the reference: {type(exc).__name__}: {exc}") from exc
    raw.columns = names
    return _normalise_index(raw.astype(np.float64), f"Qlib reference from {uri}")

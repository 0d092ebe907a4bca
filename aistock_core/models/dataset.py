"""Qlib's ``DatasetH`` + ``DataHandlerLP`` on our factor engine: load, process (infer/learn), slice segments.

Loading is one `compute_frame` call over the handler's window (bit-identical to Qlib's ``D.features``);
processing follows ``DataHandlerLP.process_data(with_fit=True)``: infer processors run on the raw frame, each
fitted on the output of the one before it; learn processors run on the infer output ("append", Qlib's
default) or on the raw frame ("independent"). ``prepare`` then slices a segment by datetime, both ends
inclusive, from the raw (``"raw"``), infer (``"infer"``) or learn (``"learn"``) frame.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from aistock_core.codes import to_internal_many, to_qlib
from aistock_core.errors import ModelError
from aistock_core.factors.engine import FactorEngine, compute_frame
from aistock_core.models.config import DatasetSpec, HandlerSpec, StaticFactors
from aistock_core.models.processors import GroupFrame, Processor, build, date_mask, fits_on_window

DataKey = str  # "raw" | "infer" | "learn"  (Qlib's DK_R, DK_I, DK_L)


def qlib_instrument_order(instruments: pd.Index) -> np.ndarray:
    """Positions that put our codes in Qlib's order (``BJ…`` < ``SH…`` < ``SZ…``): a day's rows in Qlib's frames.

    The cross-sectional sums run over a day's rows in this order; float32 sums in another order differ in the
    last bit, so we process in Qlib's order and keep it (frames say ``600000.SH``, ordered as ``SH600000``).
    """
    return np.argsort(np.array([to_qlib(c) for c in instruments]), kind="stable")


def handler_engine(handler: HandlerSpec) -> FactorEngine:
    """The handler's features and labels parsed and planned (``feature/<name>``, ``label/<name>``)."""
    return FactorEngine({**{f"feature/{k}": v for k, v in handler.features.items()},
                         **{f"label/{k}": v for k, v in handler.labels.items()}})


def read_static_factors(static: StaticFactors, start, end) -> pd.DataFrame:
    """The factor table's rows in [start, end] as float32 columns named by factor, indexed by our codes.

    Qlib's StaticDataLoader slices the table by time only (a market name is not a key of it); RD-Agent writes
    the columns as ``('feature', NAME)``. Values are cast to float32 like every other feature column here
    (Qlib would upcast the whole feature block to float64 instead: a difference below float32 precision).
    """
    if not static.path.is_file():
        raise ModelError(f"factor table {static.path} does not exist; the loop's combined_factors_df.parquet "
                         "belongs next to its workflow config")
    try:
        table = pd.read_parquet(static.path)
    except (OSError, ValueError) as exc:
        raise ModelError(f"factor table {static.path} is not a readable Parquet file: {exc}") from None
    if list(table.index.names) != ["datetime", "instrument"]:
        if not {"datetime", "instrument"} <= set(map(str, table.columns)):
            raise ModelError(f"factor table {static.path} is not indexed by (datetime, instrument)")
        table = table.set_index(["datetime", "instrument"])
    if isinstance(table.columns, pd.MultiIndex):
        groups = set(table.columns.get_level_values(0))
        if groups != {"feature"}:
            raise ModelError(f"factor table {static.path}: column groups {sorted(map(str, groups))}; only "
                             "('feature', NAME) columns are supported")
        table.columns = table.columns.get_level_values(-1)
    table.columns = table.columns.astype(str)
    table.index = pd.MultiIndex.from_arrays(
        [pd.DatetimeIndex(table.index.get_level_values(0)), to_internal_many(table.index.get_level_values(1))],
        names=["datetime", "instrument"])
    table = table[date_mask(table.index.get_level_values(0), start, end)].astype(np.float32)
    if table.empty:
        raise ModelError(f"factor table {static.path} has no rows in {start}..{end}")
    return table


def _join_static(frame: pd.DataFrame, handler: HandlerSpec) -> pd.DataFrame:
    """``frame`` (feature/…, label/… columns) joined with the handler's factor table, columns in Qlib's order."""
    static = handler.static
    table = read_static_factors(static, handler.start_time, handler.end_time)
    clash = sorted(set(table.columns) & set(handler.features))
    if clash:
        raise ModelError(f"factor table {static.path} repeats expression column(s) {clash[:5]}; rename them")
    if static.min_overlap is not None:
        theirs = table.index.get_level_values(1).unique()
        overlap = float(theirs.isin(frame.index.get_level_values(1).unique()).mean())
        if overlap < static.min_overlap:
            raise ModelError(f"factor table {static.path}: only {overlap:.1%} of its instruments are in the "
                             f"data (min_instrument_overlap_ratio {static.min_overlap}); check the instrument codes")
    joined = frame.join(table.add_prefix("feature/"), how=static.join)
    if static.min_non_nan_ratio is not None:
        ratio = float(joined[[f"feature/{c}" for c in table.columns]].notna().any(axis=1).mean())
        if ratio < static.min_non_nan_ratio:
            raise ModelError(f"factor table {static.path}: only {ratio:.2%} of rows have a factor value after the "
                             f"join (min_dynamic_non_nan_ratio {static.min_non_nan_ratio}); index mismatch?")
    features = [f"feature/{c}" for c in feature_order(handler, list(table.columns))]
    labels = [f"label/{c}" for c in (sorted(handler.labels) if static.sorted_columns else handler.labels)]
    return joined[features + labels].astype(np.float32)


def feature_order(handler: HandlerSpec, table_columns: list[str]) -> list[str]:
    """The model's input order: the expressions then the table's columns, or, after Qlib's NestedDataLoader
    (``sort_index(axis=1)``), all of them sorted by name."""
    names = [*handler.features, *table_columns]
    return sorted(names) if handler.static is not None and handler.static.sorted_columns else names


def load_raw(service, handler: HandlerSpec, engine: FactorEngine | None = None) -> GroupFrame:
    """The handler's features and labels as a `GroupFrame` (float32, the listed cells of its instruments, joined
    with its factor table when it has one).

    ``engine``: `handler_engine` of this handler, when the caller keeps one (daily scoring parses once)."""
    frame = compute_frame(service, handler.instruments, engine or handler_engine(handler),
                          start=handler.start_time, end=handler.end_time, instrument_order=qlib_instrument_order)
    if frame.empty:
        raise ModelError(f"handler {handler.name}: no rows for instruments {handler.instruments!r} in "
                         f"{handler.start_time}..{handler.end_time}; check the window and the data")
    if handler.static is not None:
        frame = _join_static(frame, handler)
        frame = frame.iloc[_qlib_rows(frame.index)]  # the join may reorder rows
    values = frame.to_numpy().T  # (columns × rows): the frame's one float32 block, not a copy
    k = sum(c.startswith("feature/") for c in frame.columns)
    return GroupFrame(index=frame.index, groups={"feature": values[:k], "label": values[k:]},
                      names={"feature": [c.removeprefix("feature/") for c in frame.columns[:k]],
                             "label": [c.removeprefix("label/") for c in frame.columns[k:]]})


def _qlib_rows(index: pd.MultiIndex) -> np.ndarray:
    """Positions that put a (datetime, instrument) index in Qlib's row order: by day, then by Qlib code."""
    rank = np.empty(len(index.levels[1]), dtype=np.int64)
    rank[qlib_instrument_order(index.levels[1])] = np.arange(len(index.levels[1]))
    return np.lexsort((rank[index.codes[1]], index.codes[0]))


def _run(frame: GroupFrame, processors: list[Processor]) -> GroupFrame:
    for proc in processors:
        proc.fit(frame)
        frame = proc(frame)
    return frame


def infer_features(service, handler: HandlerSpec, start, end, instruments=None) -> pd.DataFrame:
    """The handler's features for sessions [start, end] after its infer processors, fitted as Qlib fits them.

    What a model trained elsewhere needs to score new days: a processor with a fit window (RobustZScoreNorm…)
    learns its parameters on fit_start_time..fit_end_time, so the rows loaded reach back there when one does;
    the per-day processors give the same values on any window that contains the day.
    """
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    first = start
    if handler.fit_start_time is not None and any(fits_on_window(p.name) for p in handler.infer_processors):
        first = min(start, handler.fit_start_time)
    raw = load_raw(service, replace(handler, start_time=first, end_time=end,
                                    instruments=handler.instruments if instruments is None else instruments))
    procs = [build(p.name, dict(p.kwargs)) for p in handler.infer_processors]
    return _run(raw, procs).window(start, end).to_frame("feature")


@dataclass
class Dataset:
    """A processed dataset: the raw, infer and learn frames and the segments to slice them by."""

    spec: DatasetSpec
    raw: GroupFrame
    infer: GroupFrame
    learn: GroupFrame
    infer_processors: list[Processor]
    learn_processors: list[Processor]

    @classmethod
    def from_raw(cls, spec: DatasetSpec, raw: GroupFrame) -> Dataset:
        handler = spec.handler
        infer_procs = [build(p.name, dict(p.kwargs)) for p in handler.infer_processors]
        learn_procs = [build(p.name, dict(p.kwargs)) for p in handler.learn_processors]
        for proc in infer_procs:
            if not proc.for_infer:
                raise ModelError(f"{type(proc).__name__} drops rows by label: it can only be a learn processor")
        infer = _run(raw, infer_procs)
        learn = _run(infer if handler.process_type == "append" else raw, learn_procs)
        return cls(spec, raw, infer, learn, infer_procs, learn_procs)

    @classmethod
    def load(cls, service, spec: DatasetSpec) -> Dataset:
        return cls.from_raw(spec, load_raw(service, spec.handler))

    def frame(self, data_key: DataKey) -> GroupFrame:
        try:
            return {"raw": self.raw, "infer": self.infer, "learn": self.learn}[data_key]
        except KeyError:
            raise ModelError(f"data_key {data_key!r} is not 'raw', 'infer' or 'learn'") from None

    def segment(self, segment: str | slice, data_key: DataKey = "infer") -> GroupFrame:
        start, end = (segment.start, segment.stop) if isinstance(segment, slice) else self.spec.segment(segment)
        return self.frame(data_key).window(start, end)

    def prepare(self, segment: str | slice, col_set: str | list[str] | None = "feature",
                data_key: DataKey = "infer") -> pd.DataFrame:
        """Qlib's ``DatasetH.prepare(segment, col_set, data_key)`` (a list col_set keeps (group, name))."""
        return self.segment(segment, data_key).to_frame(col_set)

    @property
    def feature_names(self) -> list[str]:
        return list(self.infer.names["feature"])

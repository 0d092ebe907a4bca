"""Qlib 0.9.7's data processors (``qlib/data/dataset/processor.py``) on column-group arrays, bit for bit.

Qlib runs them on a DataFrame with (group, name) columns, often through ``groupby("datetime").apply`` (slow).
We hold each column group as one C-ordered (columns × rows) array — the layout pandas gives Qlib's blocks —
and do the same arithmetic in the same dtype with the same reductions: NumPy's ``nanmean``/``nanstd`` on the
(rows × columns) view for the fitted norms, pandas' ``nanops`` for the cross-sectional ones (its float32
pairwise sums, float64 variance and NumPy's medians are what make the last bit: replayed for all days at once
by `cross_section`), pandas' group rank for CSRankNorm.
That is what makes the processed frames equal to ``DatasetH.prepare`` exactly, not just closely.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from pandas.core import nanops

from aistock_core.errors import ModelError
from aistock_core.models.cross_section import cs_robust_zscore, cs_zscore

#: Qlib's ``qlib.constant.EPS``, added to RobustZScoreNorm's MAD.
EPS = 1e-12


def date_mask(dates: pd.DatetimeIndex, start, end) -> np.ndarray:
    """``start <= date <= end`` per row, either end open when None (Qlib's inclusive time slices)."""
    mask = np.ones(len(dates), dtype=bool)
    if start is not None:
        mask &= dates >= pd.Timestamp(start)
    if end is not None:
        mask &= dates <= pd.Timestamp(end)
    return mask


class SelectedRows(Mapping[str, np.ndarray]):
    """Column groups with a row selection not applied yet: a group is gathered (one copy) when first read.

    DropnaLabel keeps ~99% of a learn frame's rows; gathering every group at once would copy the whole feature
    block (hundreds of MiB) only for the segments to be copied out of it again. Kept lazy, a processor that
    reads one group (CSZScoreNorm on the label) gathers that group only, and a segment window gathers its own
    rows straight from the source: one copy instead of two, with the same values in the same layout.
    """

    def __init__(self, source: Mapping[str, np.ndarray], rows: np.ndarray,
                 done: Mapping[str, np.ndarray] | None = None) -> None:
        self._source, self._rows = dict(source), rows
        self._done: dict[str, np.ndarray] = dict(done or {})

    def __getitem__(self, group: str) -> np.ndarray:
        if group not in self._done:
            self._done[group] = np.take(self._source[group], self._rows, axis=1)
        return self._done[group]

    def __iter__(self) -> Iterator[str]:
        return iter(self._source)

    def __len__(self) -> int:
        return len(self._source)

    def select(self, rows: np.ndarray) -> SelectedRows:
        """A further selection (positions among the selected rows), still lazy."""
        return SelectedRows(self._source, self._rows[rows],
                            {g: np.take(a, rows, axis=1) for g, a in self._done.items()})

    def window(self, lo: int, hi: int) -> dict[str, np.ndarray]:
        """Selected rows ``lo:hi`` of every group, gathered."""
        return {g: np.ascontiguousarray(self._done[g][:, lo:hi]) if g in self._done
                else np.take(a, self._rows[lo:hi], axis=1) for g, a in self._source.items()}

    def replacing(self, groups: Mapping[str, np.ndarray]) -> SelectedRows:
        """The same selection with ``groups`` (already selected arrays) in place of some groups."""
        return SelectedRows(self._source, self._rows, {**self._done, **groups})


@dataclass(frozen=True)
class GroupFrame:
    """Rows indexed by (datetime, instrument); ``groups[g]`` is a (columns × rows) array named ``names[g]``.

    ``day_starts`` are the row offsets where each trading day begins (rows are sorted by datetime first).
    ``groups`` may be a `SelectedRows`, which gathers each group when it is first read.
    """

    index: pd.MultiIndex
    groups: Mapping[str, np.ndarray]
    names: dict[str, list[str]]

    @property
    def day_bounds(self) -> np.ndarray:
        codes = self.index.codes[0]
        if len(codes) == 0:
            return np.zeros(1, dtype=np.int64)
        change = np.flatnonzero(np.diff(codes)) + 1
        return np.concatenate([[0], change, [len(codes)]]).astype(np.int64)

    def take_rows(self, rows: np.ndarray) -> GroupFrame:
        """Rows by position or boolean mask, gathered lazily (`SelectedRows`): C-ordered arrays, as pandas'
        take gives them, once read.

        A mask becomes positions first: ``np.take`` along the row axis is several times faster than boolean
        indexing of a (columns × rows) array, and gives the same values in the same layout.
        """
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        groups = self.groups.select(rows) if isinstance(self.groups, SelectedRows) else SelectedRows(self.groups, rows)
        return replace(self, index=self.index[rows], groups=groups)

    def window(self, start, end) -> GroupFrame:
        """Rows with ``start <= datetime <= end`` (either end open when None), as Qlib's fetch_df_by_index.

        Rows are sorted by datetime (`dataset.load_raw`: by day, then in Qlib's code order), so a window is one
        run of rows: two binary searches and a contiguous copy instead of a comparison per row and a gather.
        """
        days, codes = self.index.levels[0], self.index.codes[0]
        if not (days.is_monotonic_increasing and (len(codes) < 2 or (np.diff(codes) >= 0).all())):
            return self.take_rows(date_mask(self.index.get_level_values(0), start, end))
        lo = 0 if start is None else int(codes.searchsorted(days.searchsorted(pd.Timestamp(start), "left")))
        hi = len(codes) if end is None else int(codes.searchsorted(days.searchsorted(pd.Timestamp(end), "right")))
        hi = max(hi, lo)
        if isinstance(self.groups, SelectedRows):
            return replace(self, index=self.index[lo:hi], groups=self.groups.window(lo, hi))
        return replace(self, index=self.index[lo:hi],
                       groups={g: np.ascontiguousarray(a[:, lo:hi]) for g, a in self.groups.items()})

    def select(self, group: str | None) -> list[str]:
        """The groups a processor's ``fields_group`` addresses (None: all, in column order)."""
        if group is None:
            return list(self.groups)
        if group not in self.groups:
            raise ModelError(f"fields_group {group!r} is not a column group (have {list(self.groups)})")
        return [group]

    def stacked(self, group: str | None) -> np.ndarray:
        """(columns × rows) of the addressed groups, in one array of their common dtype."""
        keys = self.select(group)
        if len(keys) == 1:
            return self.groups[keys[0]]
        return np.concatenate([self.groups[g] for g in keys], axis=0)

    def with_stacked(self, group: str | None, values: np.ndarray) -> GroupFrame:
        """Write a `stacked` array back into its groups (the other groups stay as they are, lazy or not)."""
        written, lo = {}, 0
        for g in self.select(group):
            k = len(self.names[g])
            written[g] = np.ascontiguousarray(values[lo:lo + k])
            lo += k
        if isinstance(self.groups, SelectedRows):
            return replace(self, groups=self.groups.replacing(written))
        return replace(self, groups={**self.groups, **written})

    def to_frame(self, col_set: str | list[str] | None = None) -> pd.DataFrame:
        """Qlib's ``fetch_df_by_col``: a list (or None) keeps (group, name) columns, a group name drops it."""
        if isinstance(col_set, str):
            return pd.DataFrame(self.groups[col_set].T, index=self.index,
                                columns=pd.Index(self.names[col_set]))
        keys = list(self.groups) if col_set is None else [g for g in col_set if g in self.groups]
        parts = [pd.DataFrame(self.groups[g].T, index=self.index,
                              columns=pd.MultiIndex.from_product([[g], self.names[g]])) for g in keys]
        return pd.concat(parts, axis=1) if len(parts) > 1 else parts[0]


class Processor:
    """Base: ``fit`` learns parameters (on the output of the processors before it), ``__call__`` applies them."""

    for_infer = True

    def fit(self, frame: GroupFrame) -> None:
        """Learn parameters; the default learns nothing."""

    def __call__(self, frame: GroupFrame) -> GroupFrame:
        raise NotImplementedError


class DropnaProcessor(Processor):
    def __init__(self, fields_group: str | None = None) -> None:
        self.fields_group = fields_group

    def __call__(self, frame):
        return frame.take_rows(~np.isnan(frame.stacked(self.fields_group)).any(axis=0))


class DropnaLabel(DropnaProcessor):
    """Drops rows without a label: learning only (Qlib refuses it among infer processors)."""

    for_infer = False

    def __init__(self, fields_group: str = "label") -> None:
        super().__init__(fields_group)


class FilterCol(Processor):
    """Keep the group's columns named in ``col_list`` (other groups stay), in their original order."""

    def __init__(self, fields_group: str = "feature", col_list=()) -> None:
        self.fields_group, self.col_list = fields_group, list(col_list)

    def __call__(self, frame):
        keep = set(self.col_list)
        groups, names = dict(frame.groups), dict(frame.names)
        for g in frame.select(self.fields_group):
            # Qlib keeps by the last level name: a name also present in another group survives
            other = {n for h in frame.groups if h != g for n in frame.names[h]}
            mask = np.array([n in keep or n in other for n in frame.names[g]], dtype=bool)
            groups[g] = np.ascontiguousarray(frame.groups[g][mask])
            names[g] = [n for n, m in zip(frame.names[g], mask, strict=True) if m]
        return replace(frame, groups=groups, names=names)


class TanhProcess(Processor):
    """``tanh(x - 1)`` on every column whose name does not contain "LABEL"."""

    def __call__(self, frame):
        groups = {}
        for g, arr in frame.groups.items():
            mask = np.array(["LABEL" not in n for n in frame.names[g]], dtype=bool)
            out = arr.copy()
            out[mask] = np.tanh(arr[mask] - 1)
            groups[g] = out
        return replace(frame, groups=groups)


class ProcessInf(Processor):
    """±inf → that day's mean of the column's finite values (NaN skipped), per Qlib's ``replace_inf``."""

    def __call__(self, frame):
        bounds = frame.day_bounds
        groups = {}
        for g, arr in frame.groups.items():
            inf = np.isinf(arr)
            if not inf.any():
                groups[g] = arr
                continue
            out = arr.copy()
            for c, d in zip(*np.nonzero(np.logical_or.reduceat(inf, bounds[:-1], axis=1)), strict=True):
                day = out[c, bounds[d]:bounds[d + 1]]
                hit = np.isinf(day)
                day[hit] = nanops.nanmean(day[~hit], skipna=True)
            groups[g] = out
        return replace(frame, groups=groups)


class Fillna(Processor):
    def __init__(self, fields_group: str | None = None, fill_value: float = 0) -> None:
        self.fields_group, self.fill_value = fields_group, fill_value

    def __call__(self, frame):
        groups = dict(frame.groups)
        for g in frame.select(self.fields_group):  # per group: each keeps its own dtype, as pandas' fillna does
            arr = groups[g]
            groups[g] = np.where(np.isnan(arr), arr.dtype.type(self.fill_value), arr)
        return replace(frame, groups=groups)


class _Fitted(Processor):
    """Norms with parameters learned on fit_start_time..fit_end_time (injected from the handler)."""

    def __init__(self, fit_start_time, fit_end_time, fields_group: str | None = None) -> None:
        self.fit_start_time, self.fit_end_time, self.fields_group = fit_start_time, fit_end_time, fields_group

    def _fit_values(self, frame: GroupFrame) -> np.ndarray:
        """(rows × columns) of the fit window: the transposed view that ``df[cols].values`` is in Qlib."""
        values = frame.window(self.fit_start_time, self.fit_end_time).stacked(self.fields_group).T
        if values.shape[0] == 0:
            raise ModelError(f"{type(self).__name__}: no rows in the fit window {self.fit_start_time}.."
                             f"{self.fit_end_time}; widen fit_start_time/fit_end_time to overlap the data")
        return values


class ZScoreNorm(_Fitted):
    def fit(self, frame):
        with np.errstate(all="ignore"):
            values = self._fit_values(frame)
            self.mean_train = np.nanmean(values, axis=0)
            self.std_train = np.nanstd(values, axis=0)
        ignore = self.std_train == 0
        self.std_train[ignore], self.mean_train[ignore] = 1, 0

    def __call__(self, frame):
        x = frame.stacked(self.fields_group).T
        with np.errstate(all="ignore"):
            return frame.with_stacked(self.fields_group, ((x - self.mean_train) / self.std_train).T)


class MinMaxNorm(_Fitted):
    def fit(self, frame):
        with np.errstate(all="ignore"):
            values = self._fit_values(frame)
            self.min_val, self.max_val = np.nanmin(values, axis=0), np.nanmax(values, axis=0)
        ignore = self.min_val == self.max_val
        self.min_val[ignore], self.max_val[ignore] = 0, 1

    def __call__(self, frame):
        x = frame.stacked(self.fields_group).T
        with np.errstate(all="ignore"):
            return frame.with_stacked(self.fields_group, ((x - self.min_val) / (self.max_val - self.min_val)).T)


class RobustZScoreNorm(_Fitted):
    """median / (MAD + EPS) × 1.4826, clipped to ±3 when ``clip_outlier``."""

    def __init__(self, fit_start_time, fit_end_time, fields_group: str | None = None, clip_outlier: bool = True):
        super().__init__(fit_start_time, fit_end_time, fields_group)
        self.clip_outlier = clip_outlier

    def fit(self, frame):
        with np.errstate(all="ignore"):
            values = self._fit_values(frame)
            self.mean_train = np.nanmedian(values, axis=0)
            self.std_train = np.nanmedian(np.abs(values - self.mean_train), axis=0)
        self.std_train += EPS
        self.std_train *= 1.4826

    def __call__(self, frame):
        x = frame.stacked(self.fields_group)
        with np.errstate(all="ignore"):
            out = (x - self.mean_train[:, None]) / self.std_train[:, None]
        if self.clip_outlier:
            out = np.clip(out, -3, 3)
        return frame.with_stacked(self.fields_group, out)


class CSZScoreNorm(Processor):
    """Per trading day: ``(x - mean) / std`` (ddof 1), or median/MAD×1.4826 with ``method="robust"``."""

    def __init__(self, fields_group: str | list | None = None, method: str = "zscore") -> None:
        if method not in ("zscore", "robust"):
            raise ModelError(f"CSZScoreNorm: method {method!r} is not 'zscore' or 'robust'")
        self.groups = fields_group if isinstance(fields_group, list) else [fields_group]
        self.method = method

    def __call__(self, frame):
        bounds = frame.day_bounds
        norm = cs_zscore if self.method == "zscore" else cs_robust_zscore
        for g in self.groups:
            frame = frame.with_stacked(g, norm(frame.stacked(g), bounds))
        return frame


class CSRankNorm(Processor):
    """Per trading day: (pct rank − 0.5) × 3.46, ties averaged; the result is float64, as in Qlib."""

    def __init__(self, fields_group: str | None = None) -> None:
        self.fields_group = fields_group

    def __call__(self, frame):
        x = frame.stacked(self.fields_group)
        ranked = pd.DataFrame(x.T).groupby(frame.index.codes[0], sort=False).rank(pct=True).to_numpy().T
        ranked -= 0.5
        ranked *= 3.46
        return frame.with_stacked(self.fields_group, ranked)


PROCESSORS: dict[str, type[Processor]] = {
    cls.__name__: cls for cls in (DropnaLabel, DropnaProcessor, CSZScoreNorm, CSRankNorm, ZScoreNorm,
                                  RobustZScoreNorm, MinMaxNorm, Fillna, ProcessInf, FilterCol, TanhProcess)
}


def fits_on_window(name: str) -> bool:
    """Qlib injects the handler's fit window into exactly the processors whose constructor takes one."""
    return issubclass(PROCESSORS[name], _Fitted)


def build(name: str, kwargs: dict[str, Any]) -> Processor:
    try:
        return PROCESSORS[name](**kwargs)
    except TypeError as exc:
        raise ModelError(f"processor {name}: bad kwargs {sorted(kwargs)} ({exc})") from None

"""Alignment: does a migrated factor (our engine, from its expression) reproduce its reference? The comparison.

References (`ReferenceKind`, read by `references`): ``qlib`` (Qlib's own ``D.features`` on the same bin
directory: the research truth for Alpha158), ``code`` (the original RD-Agent factor code run in the sandbox)
and ``parquet`` (a bundle's ``combined_factors_df.parquet``). `verify` runs a whole check (migrated values and
a reference over the same window, then `compare`).

The comparison is one pass over a (rows × factors) float64 matrix pair, every factor at once; per factor and
window it reports max abs / rel error, NaN/inf pattern mismatches, cells out of tolerance, rows compared and
missing, and the worst instruments and dates. A factor is ``verified`` when every compared cell satisfies
``|a-b| <= atol + rtol*|b|`` (rtol 1e-5, atol 1e-6: the project-wide parity tolerance), the NaN/±inf
patterns are identical and no row of the migrated frame is missing from the reference; otherwise ``failed``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Literal

import numpy as np
import pandas as pd

from aistock_core.errors import FactorError

ReferenceKind = Literal["qlib", "code", "parquet"]
REFERENCE_KINDS: tuple[str, ...] = ("qlib", "code", "parquet")
RTOL = 1e-5
ATOL = 1e-6
Windows = Mapping[str, tuple[object | None, object | None]]


@dataclass(frozen=True)
class AlignmentRow:
    """One factor × window comparison. Errors are None when no finite pair was compared."""

    factor: str
    window: str
    reference_kind: str
    window_start: pd.Timestamp | None
    window_end: pd.Timestamp | None
    rows_compared: int
    rows_missing: int
    max_abs_err: float | None
    max_rel_err: float | None
    nan_mismatches: int
    cells_out_of_tolerance: int
    worst_instruments: list[dict] = field(default_factory=list)
    worst_dates: list[dict] = field(default_factory=list)
    rtol: float = RTOL
    atol: float = ATOL
    status: str = "failed"
    note: str | None = None


@dataclass(frozen=True)
class AlignmentReport:
    """Every row of one alignment run; ``failed`` names the factors that did not verify in some window."""

    rows: tuple[AlignmentRow, ...]
    reference_kind: str
    checked_at: datetime

    @property
    def failed(self) -> list[str]:
        return list(dict.fromkeys(r.factor for r in self.rows if r.status != "verified"))

    @property
    def ok(self) -> bool:
        return bool(self.rows) and not self.failed

    def frame(self) -> pd.DataFrame:
        """One line per factor × window, for tables and Dagster metadata."""
        return pd.DataFrame([asdict(r) for r in self.rows])

    def factor_status(self) -> dict[str, str]:
        """Per factor: ``verified`` only when every window verified."""
        return {name: ("failed" if name in set(self.failed) else "verified")
                for name in dict.fromkeys(r.factor for r in self.rows)}


def _cell_errors(a: np.ndarray, b: np.ndarray, rtol: float, atol: float):
    """Per cell: pattern mismatch, finite pair, abs error, rel error and tolerance ratio (> 1 fails).

    Two non-finite cells match when both are NaN or both the same infinity (``a == b`` holds for equal infs).
    """
    fin_a, fin_b = np.isfinite(a), np.isfinite(b)
    finite = fin_a & fin_b
    with np.errstate(invalid="ignore", over="ignore"):
        same_nonfinite = (np.isnan(a) & np.isnan(b)) | (a == b)
        mismatch = ~finite & ~same_nonfinite
        abs_err = np.abs(a - b)
        abs_err[~finite] = 0.0
        scale = np.abs(b)
        rel_err = abs_err / np.maximum(scale, atol)
        ratio = abs_err / (atol + rtol * scale)
    rel_err[~finite] = 0.0
    ratio[~finite] = 0.0
    return mismatch, finite, abs_err, rel_err, ratio


def _worst(keys: np.ndarray, badness: np.ndarray, abs_err: np.ndarray, mismatch: np.ndarray, names: Sequence[str],
           top: int) -> dict[str, list[dict]]:
    """Top-``top`` keys (instruments or dates) per factor by badness (tolerance ratio, inf for a NaN mismatch).

    Rows are grouped by sorting once and reducing each run of equal keys (``reduceat``): one pass per statistic
    over the whole (rows × factors) matrix, no per-group Python.
    """
    result: dict[str, list[dict]] = {name: [] for name in names}
    if len(keys) == 0:
        return result
    order = None if (keys[1:] >= keys[:-1]).all() else np.argsort(keys, kind="stable")
    if order is not None:
        keys, badness, abs_err, mismatch = keys[order], badness[order], abs_err[order], mismatch[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    codes = keys[starts]
    worst_bad = np.maximum.reduceat(badness, starts, axis=0)
    worst_abs = np.maximum.reduceat(abs_err, starts, axis=0)
    n_mis = np.add.reduceat(mismatch.astype(np.int64), starts, axis=0)
    picks = np.argsort(-worst_bad, axis=0, kind="stable")[:top]
    for j, name in enumerate(names):  # top ≤ 5 entries per factor: formatting only
        result[name] = [{"key": str(codes[k]), "max_abs_err": float(worst_abs[k, j]),
                         "nan_mismatches": int(n_mis[k, j])} for k in picks[:, j] if worst_bad[k, j] > 0]
    return result


def _date_key(values: pd.Index) -> np.ndarray:
    return pd.DatetimeIndex(values).strftime("%Y-%m-%d").to_numpy()


def compare(
    migrated: pd.DataFrame,
    reference: pd.DataFrame,
    *,
    reference_kind: str,
    windows: Windows | None = None,
    rtol: float = RTOL,
    atol: float = ATOL,
    top: int = 5,
    notes: Mapping[str, str] | None = None,
) -> AlignmentReport:
    """Compare every column of ``migrated`` with the same-named column of ``reference``.

    Both frames are indexed by (datetime, instrument). ``windows``: name → (start, end), inclusive, None = open
    (default ``{"full": (None, None)}``). A factor absent from ``reference`` fails with a note (``notes`` can
    say why, e.g. the sandbox error of its original code).
    """
    if reference_kind not in REFERENCE_KINDS:
        raise FactorError(f"unknown reference kind {reference_kind!r}; use one of {REFERENCE_KINDS}")
    for label, frame in (("migrated", migrated), ("reference", reference)):
        if list(frame.index.names) != ["datetime", "instrument"]:
            raise FactorError(f"{label} frame must be indexed by (datetime, instrument), got {frame.index.names}")
        if frame.index.has_duplicates:
            raise FactorError(f"{label} frame has duplicate (datetime, instrument) rows")
    windows = dict(windows or {"full": (None, None)})
    notes = dict(notes or {})
    checked_at = datetime.now(UTC)
    names = [str(c) for c in migrated.columns]
    present = [n for n in names if n in reference.columns]
    absent = [n for n in names if n not in reference.columns]

    in_ref = migrated.index.isin(reference.index)
    a_all = migrated[present].to_numpy(dtype=np.float64)
    ref = reference[present]
    b_all = (ref if ref.index.equals(migrated.index) else ref.reindex(migrated.index)).to_numpy(dtype=np.float64)
    dates = migrated.index.get_level_values("datetime")
    instruments = migrated.index.get_level_values("instrument").to_numpy()
    date_keys = _date_key(dates)

    rows: list[AlignmentRow] = []
    for window, (start, end) in windows.items():
        mask = np.ones(len(migrated), dtype=bool)
        if start is not None:
            mask &= dates >= pd.Timestamp(start)
        if end is not None:
            mask &= dates <= pd.Timestamp(end)
        w_start = pd.Timestamp(start) if start is not None else (dates[mask].min() if mask.any() else None)
        w_end = pd.Timestamp(end) if end is not None else (dates[mask].max() if mask.any() else None)
        missing = int((mask & ~in_ref).sum())
        sel = mask & in_ref
        everything = bool(sel.all())
        a, b = (a_all, b_all) if everything else (a_all[sel], b_all[sel])
        mismatch, finite, abs_err, rel_err, ratio = _cell_errors(a, b, rtol, atol)
        badness = ratio.copy()
        badness[mismatch] = np.inf
        out_tol = (ratio > 1.0).sum(axis=0)
        n_mismatch = mismatch.sum(axis=0)
        any_finite = finite.any(axis=0)
        max_abs = abs_err.max(axis=0, initial=0.0)
        max_rel = rel_err.max(axis=0, initial=0.0)
        worst_i = _worst(instruments if everything else instruments[sel], badness, abs_err, mismatch, present, top)
        worst_d = _worst(date_keys if everything else date_keys[sel], badness, abs_err, mismatch, present, top)
        compared = int(sel.sum())
        for j, name in enumerate(present):
            ok = compared > 0 and missing == 0 and n_mismatch[j] == 0 and out_tol[j] == 0
            note = notes.get(name)
            if compared == 0:
                note = note or "no overlapping rows between migrated and reference"
            elif missing:
                note = note or f"{missing} migrated row(s) absent from the reference"
            rows.append(AlignmentRow(
                factor=name, window=window, reference_kind=reference_kind, window_start=w_start, window_end=w_end,
                rows_compared=compared, rows_missing=missing,
                max_abs_err=float(max_abs[j]) if any_finite[j] else None,
                max_rel_err=float(max_rel[j]) if any_finite[j] else None,
                nan_mismatches=int(n_mismatch[j]), cells_out_of_tolerance=int(out_tol[j]),
                worst_instruments=worst_i[name], worst_dates=worst_d[name], rtol=rtol, atol=atol,
                status="verified" if ok else "failed", note=note,
            ))
        for name in absent:
            rows.append(AlignmentRow(
                factor=name, window=window, reference_kind=reference_kind, window_start=w_start, window_end=w_end,
                rows_compared=0, rows_missing=int(mask.sum()), max_abs_err=None, max_rel_err=None,
                nan_mismatches=0, cells_out_of_tolerance=0, rtol=rtol, atol=atol, status="failed",
                note=notes.get(name) or f"reference ({reference_kind}) has no column {name!r}",
            ))
    return AlignmentReport(tuple(rows), reference_kind, checked_at)

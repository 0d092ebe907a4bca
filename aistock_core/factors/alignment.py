"""Alignment: does a migrated factor (our engine, from its expression) reproduce its reference?

References (`ReferenceKind`): ``qlib`` (Qlib's own ``D.features`` on the same bin directory: the research
truth for Alpha158), ``code`` (the original RD-Agent factor code run in the sandbox) and ``parquet`` (a
bundle's ``combined_factors_df.parquet``, columns spelled ``"('feature','X')"``, rdagent.md §14.7).

The comparison is one pass over a (rows × factors) float64 matrix pair, every factor at once; per factor and
window it reports max abs / rel error, NaN/inf pattern mismatches, cells out of tolerance, rows compared and
missing, and the worst instruments and dates. A factor is ``verified`` when every compared cell satisfies
``|a-b| <= atol + rtol*|b|`` (rtol 1e-5, atol 1e-6: the project-wide parity tolerance), the NaN/±inf
patterns are identical and no row of the migrated frame is missing from the reference; otherwise ``failed``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from aistock_core.codes import to_internal_many, to_qlib
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


# -- references -------------------------------------------------------------------------------------------------
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


# -- running a check: migrated values and a reference over the same window -------------------------------------
@dataclass(frozen=True)
class CheckWindow:
    """The sessions compared ([start, end]) and the first session loaded for look-back (``load_start``)."""

    start: pd.Timestamp
    end: pd.Timestamp
    load_start: pd.Timestamp


def check_window(service, expressions: Mapping[str, str], *, start=None, end=None,
                 lookback: int | None = None) -> CheckWindow:
    """Resolve [start, end] to sessions and step back the expressions' look-back (or ``lookback``) sessions."""
    from aistock_core.factors.engine import FactorEngine, session_range

    back = FactorEngine(expressions).lookback if lookback is None else int(lookback)
    wanted, load_start, _ = session_range(service, start, end, back)
    return CheckWindow(wanted[0], wanted[-1], load_start)


def migrated_frame(service, universe, expressions: Mapping[str, str], window: CheckWindow,
                   adjust: str | None = "qlib") -> pd.DataFrame:
    """Our engine's values of ``expressions`` on [window.start, window.end], loaded from ``window.load_start``.

    ``adjust="qfq"`` is for comparing with RD-Agent code, which sees daily_pv.h5 (qfq, normalised to the
    window's last day): price-level factors only match when both sides see the same view of the same window.
    """
    from aistock_core.data.panel import Panel
    from aistock_core.factors.engine import FactorEngine

    engine = FactorEngine(expressions)
    panel = service.get_panel(universe, start=window.load_start, end=window.end, fields=engine.fields,
                              adjust=adjust, dtype=np.float32)
    values = engine.compute(panel)
    computed = Panel(dates=panel.dates, instruments=panel.instruments, values=values, listed=panel.listed)
    wanted = panel.dates[panel.dates >= window.start]
    return computed.select(dates=wanted).to_frame(list(expressions))


def qlib_reference_for(service, universe, expressions: Mapping[str, str], window: CheckWindow,
                       workdir: str | Path) -> pd.DataFrame:
    """Qlib's values over the window: on the provider's own Qlib directory, else on one written from it."""
    provider = service.provider
    root = getattr(provider, "root", None)
    if getattr(provider, "native_adjust", None) != "qlib" or root is None:
        from aistock_core.data.qlib_bin import write_qlib_dir

        root = write_qlib_dir(service, Path(workdir) / "qlib_data", start=window.load_start, end=window.end,
                              markets=("all",))
    codes = service.resolve_universe(universe)
    return qlib_reference(root, expressions, codes, start=window.start, end=window.end)


def code_reference_for(service, universe, sources: Mapping[str, str], window: CheckWindow,
                       limits=None) -> tuple[pd.DataFrame, dict[str, str]]:
    """The original RD-Agent code's values (sandboxed, on daily_pv.h5 of the whole load window) in [start, end]."""
    from aistock_core.factors.sandbox import run_factor_codes

    frame, failures = run_factor_codes(dict(sources), service, universe, start=window.load_start, end=window.end,
                                       limits=limits)
    return frame[frame.index.get_level_values("datetime") >= window.start], failures


@dataclass(frozen=True)
class CheckOutcome:
    """What a check produced: the report, the migrated values it judged, and per-factor failures of the code."""

    report: AlignmentReport
    migrated: pd.DataFrame
    failures: dict[str, str]


def run_check(
    service,
    universe,
    expressions: Mapping[str, str],
    reference: str,
    *,
    start=None,
    end=None,
    lookback: int | None = None,
    code_sources: Mapping[str, str] | None = None,
    parquet: str | Path | None = None,
    windows: Windows | None = None,
    limits=None,
    workdir: str | Path | None = None,
) -> CheckOutcome:
    """Compute ``expressions`` with our engine and compare them with ``reference`` over [start, end].

    ``code`` needs ``code_sources`` (name → factor.py source; the engine side then uses the qfq view, as the
    code does); ``parquet`` needs the bundle file; ``qlib`` computes Qlib itself on the same data.
    """
    import tempfile

    if reference not in REFERENCE_KINDS:
        raise FactorError(f"unknown reference {reference!r}; use one of {', '.join(REFERENCE_KINDS)}")
    if not expressions:
        raise FactorError("no factors to check: pass at least one name with an expression")
    window = check_window(service, expressions, start=start, end=end, lookback=lookback)
    failures: dict[str, str] = {}
    if reference == "code":
        missing = [n for n in expressions if n not in (code_sources or {})]
        if missing:
            raise FactorError(f"reference 'code' needs the factor code of {missing}; pass --code-dir / code_sources")
        migrated = migrated_frame(service, universe, expressions, window, adjust="qfq")
        ref, failures = code_reference_for(service, universe, {n: code_sources[n] for n in expressions}, window,
                                           limits)
    elif reference == "parquet":
        if parquet is None:
            raise FactorError("reference 'parquet' needs the bundle's combined_factors_df.parquet path")
        migrated = migrated_frame(service, universe, expressions, window)
        ref = parquet_reference(parquet)
        ref_days = ref.index.get_level_values("datetime")  # a bundle covers its own period: judge only that
        days = migrated.index.get_level_values("datetime")
        migrated = migrated[(days >= ref_days.min()) & (days <= ref_days.max())]
    else:
        migrated = migrated_frame(service, universe, expressions, window)
        with tempfile.TemporaryDirectory(prefix="aistock-qlib-ref-") as tmp:
            ref = qlib_reference_for(service, universe, expressions, window, workdir or tmp)
    report = compare(migrated, ref, reference_kind=reference, windows=windows, notes=failures)
    return CheckOutcome(report, migrated, failures)

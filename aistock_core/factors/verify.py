"""Running an alignment check: migrated values (our engine) and a reference over the same window, compared.

The window is the checked sessions plus the expressions' look-back, resolved once (`check_window`) and used by
both sides, so what is stored is exactly what is judged (the Dagster factor assets and ``aistock factors
check`` both run through here).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from aistock_core.errors import FactorError
from aistock_core.factors.alignment import REFERENCE_KINDS, AlignmentReport, Windows, compare
from aistock_core.factors.references import parquet_reference, qlib_reference


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

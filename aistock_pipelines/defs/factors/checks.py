"""Blocking alignment checks on factor assets: a migrated factor that drifts from its reference stops the
assets downstream of it (models, strategies) before they consume wrong numbers.

Each check reads the partition the asset just stored, computes the reference for the same window (Qlib, the
sandboxed RD-Agent code, or a bundle's parquet), compares every factor at once, records the figures in the app
DB (registry status + alignment rows, one transaction) and shows the worst factors in the check's metadata.

Qlib-referenced sets are judged daily on a sample: `DAILY_SAMPLE` instruments drawn with a seed from the trade
date (so the sample rotates over the universe day by day and any run can be repeated), every factor, the day
itself. Alpha158's expressions are per-instrument time series, so a sampled name's values are exactly those of a
full run, and a factor computed wrongly is wrong for (nearly) every name: the sample still stops it. The whole
universe is compared by the weekly ``factor_alignment_full`` schedule (``sample: 0``). Code-referenced sets are
always compared in full: RD-Agent code may rank across names, so a subset's reference would differ.
"""


import warnings

import dagster as dg
import numpy as np
import pandas as pd

from aistock_core.factors.alignment import AlignmentReport, compare
from aistock_core.factors.references import parquet_reference, qlib_available
from aistock_core.factors.registry import factor_entries, record_alignment
from aistock_core.factors.sets import FactorSet
from aistock_core.factors.verify import check_window, code_reference_for, qlib_reference_for
from aistock_pipelines.defs.factors.assets import build_factor_asset
from aistock_pipelines.partitions import trade_date, trading_days
from aistock_pipelines.resources import DatabaseResource, DataServiceResource, StoreResource

#: Factors listed in the metadata table (worst first).
WORST_SHOWN = 10
#: Instruments the daily check of a Qlib-referenced set compares (see the module docstring).
DAILY_SAMPLE = 10
#: Name of the check on every factor asset (Dagster shows it as ``<asset>_alignment``).
CHECK_NAME = "alignment"


class AlignmentConfig(dg.Config):
    """``sample``: instruments compared for a Qlib-referenced set (0: every instrument, the weekly full run)."""

    sample: int = DAILY_SAMPLE


def sample_instruments(codes, size: int, day: pd.Timestamp) -> list[str]:
    """``size`` of ``codes`` drawn with the trade date as seed (every code when ``size`` is 0 or covers them)."""
    codes = sorted(codes)
    if size <= 0 or size >= len(codes):
        return codes
    rng = np.random.default_rng(int(day.strftime("%Y%m%d")))
    return sorted(rng.choice(codes, size=size, replace=False).tolist())


def _reference(spec: FactorSet, data: DataServiceResource, day: pd.Timestamp, workdir: str, universe):
    """The reference frame for ``day`` over ``universe`` and per-factor failures of the original code."""
    service = data.get_service()
    window = check_window(service, spec.expressions, start=day, end=day, lookback=spec.lookback)
    if spec.reference == "code":
        return code_reference_for(service, universe, spec.code_sources, window)
    if spec.reference == "parquet":
        return parquet_reference(spec.parquet, names=list(spec.expressions)), {}
    return qlib_reference_for(service, universe, spec.expressions, window, workdir), {}


def _max_or_zero(column: pd.Series) -> float:
    """Largest finite figure (0.0 when no factor had a finite pair to compare)."""
    value = column.astype(float).max(skipna=True)
    return 0.0 if pd.isna(value) else float(value)


def summary_metadata(report: AlignmentReport) -> dict[str, dg.MetadataValue]:
    """Key figures and the worst factors of an alignment run, as check metadata."""
    table = report.frame()
    failed = table[table["status"] != "verified"]
    worst = table.assign(
        _rank=np.where(table["nan_mismatches"] > 0, np.inf, table["max_rel_err"].astype(float).fillna(np.inf)),
    ).sort_values(["_rank", "max_abs_err"], ascending=False).head(WORST_SHOWN)
    shown = worst[["factor", "status", "max_abs_err", "max_rel_err", "nan_mismatches", "cells_out_of_tolerance",
                   "rows_compared", "note"]].copy()
    shown["worst_instrument"] = [w[0]["key"] if w else "" for w in worst["worst_instruments"]]
    return {
        "factors": dg.MetadataValue.int(int(table["factor"].nunique())),
        "failed": dg.MetadataValue.int(int(failed["factor"].nunique())),
        "max_abs_err": dg.MetadataValue.float(_max_or_zero(table["max_abs_err"])),
        "max_rel_err": dg.MetadataValue.float(_max_or_zero(table["max_rel_err"])),
        "nan_mismatches": dg.MetadataValue.int(int(table["nan_mismatches"].sum())),
        "rows_compared": dg.MetadataValue.int(int(table["rows_compared"].max())),
        "worst_columns": dg.MetadataValue.md(shown.to_markdown(index=False, floatfmt=".3g")),
        "failed_factors": dg.MetadataValue.text(", ".join(failed["factor"].unique()[:50])),
    }


def build_alignment_check(spec: FactorSet, asset: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    """A blocking check comparing the stored partition of ``asset`` with ``spec.reference``."""

    # A partitioned check is a Dagster preview feature, used on purpose: alignment is judged per trading day.
    # Its PreviewWarning would print on every CLI command and `dagster dev` start, so it is silenced here only.
    decorate = dg.asset_check(
        asset=asset, name=CHECK_NAME, blocking=True, partitions_def=trading_days,
        description=f"Every factor within rtol 1e-5 / atol 1e-6 of {spec.reference}, same NaN pattern"
                    + (f"; daily on {DAILY_SAMPLE} instruments seeded by the date, weekly on all." if
                       spec.reference == "qlib" else "."),
    )

    def _check(context: dg.AssetCheckExecutionContext, config: AlignmentConfig, data: DataServiceResource,
               store: StoreResource, database: DatabaseResource) -> dg.AssetCheckResult:
        import tempfile

        if spec.reference == "qlib" and not qlib_available():
            # Not a pass: nothing was verified. A WARN failure says so without blocking downstream assets.
            return dg.AssetCheckResult(
                passed=False, severity=dg.AssetCheckSeverity.WARN,
                description="skipped, nothing verified: pyqlib is not installed",
                metadata={"note": dg.MetadataValue.text(
                    "Qlib reference could not run: install the 'qlib' extra (pyqlib 0.9.7) to verify against Qlib")},
            )
        day = trade_date(context.partition_key)
        migrated = store.get_store().read_partition(spec.name, day)
        universe = spec.universe_for(data.settings().market)
        names = migrated.index.get_level_values("instrument").unique()
        if spec.reference == "qlib":
            universe = sample_instruments(names, config.sample, day)
            migrated = migrated[migrated.index.get_level_values("instrument").isin(universe)]
        with tempfile.TemporaryDirectory(prefix="aistock-check-") as tmp:
            reference, failures = _reference(spec, data, day, tmp, universe)
        reference = reference[reference.index.get_level_values("datetime") == day]
        report = compare(migrated, reference, reference_kind=spec.reference,
                         windows={context.partition_key: (day, day)}, notes=failures)
        entries = factor_entries(spec.expressions, spec.source, spec.code_sources)
        record_alignment(database.get_db(), report, source=spec.source, entries=entries, failures=failures)
        failed = report.failed
        return dg.AssetCheckResult(
            passed=not failed,
            description=(f"{len(failed)} factor(s) out of tolerance vs {spec.reference}: {', '.join(failed[:10])}"
                         if failed else f"all {len(spec.expressions)} factors match {spec.reference}"),
            metadata={**summary_metadata(report),
                      "instruments": dg.MetadataValue.int(migrated.index.get_level_values("instrument").nunique()),
                      "of_universe": dg.MetadataValue.int(len(names))},
        )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return decorate(_check)


def build_factor_set(spec: FactorSet) -> tuple[dg.AssetsDefinition, dg.AssetChecksDefinition]:
    """Asset + blocking check for one factor set (e.g. a catalog's RD-Agent code factors)."""
    asset = build_factor_asset(spec)
    return asset, build_alignment_check(spec, asset)

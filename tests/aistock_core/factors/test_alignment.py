"""Alignment figures (errors, NaN patterns, worst instruments/dates, status) and their persistence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from aistock_core.db import Database
from aistock_core.errors import FactorError
from aistock_core.factors.alignment import compare
from aistock_core.factors.references import parquet_reference
from aistock_core.factors.registry import (
    FactorEntry,
    alignment_results,
    factor_status,
    record_alignment,
    register_factors,
)

DATES = pd.bdate_range("2024-01-02", periods=40, name="datetime")
CODES = ["000001.SZ", "600000.SH", "600519.SH", "300750.SZ"]


def _frame(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    index = pd.MultiIndex.from_product([DATES, CODES], names=["datetime", "instrument"])
    frame = pd.DataFrame({"a": rng.normal(size=len(index)), "b": rng.normal(10, 1, len(index)),
                          "c": rng.normal(size=len(index))}, index=index).astype(np.float32)
    frame.loc[(DATES[:3], slice(None)), "c"] = np.nan  # warm-up NaNs that both sides share
    return frame


def test_identical_frames_verify_and_float32_noise_is_tolerated():
    mig = _frame()
    ref = mig.astype(np.float64) * (1 + 2e-7)  # float32 rounding-level difference
    report = compare(mig, ref, reference_kind="code")
    assert report.ok and report.failed == []
    table = report.frame().set_index("factor")
    assert (table["status"] == "verified").all()
    assert (table["rows_compared"] == len(mig)).all() and (table["rows_missing"] == 0).all()
    assert table.loc["b", "max_abs_err"] == pytest.approx(float(np.abs(ref["b"] - mig["b"].astype(float)).max()))


def test_errors_nan_mismatches_and_worst_keys_are_located():
    mig = _frame()
    ref = mig.astype(np.float64).copy()
    ref.loc[(DATES[10], "600519.SH"), "a"] += 0.5  # one wrong cell
    ref.loc[(DATES[20], "300750.SZ"), "b"] = np.nan  # a NaN where we have a value
    ref.loc[(DATES[21], "300750.SZ"), "b"] = np.inf  # and an inf
    report = compare(mig, ref, reference_kind="parquet")
    table = report.frame().set_index("factor")
    assert report.failed == ["a", "b"] and not report.ok
    assert table.loc["a", "max_abs_err"] == pytest.approx(0.5, rel=1e-6)
    assert table.loc["a", "cells_out_of_tolerance"] == 1 and table.loc["a", "nan_mismatches"] == 0
    assert table.loc["a", "worst_instruments"][0]["key"] == "600519.SH"
    assert table.loc["a", "worst_dates"][0]["key"] == DATES[10].strftime("%Y-%m-%d")
    assert table.loc["b", "nan_mismatches"] == 2 and table.loc["b", "worst_instruments"][0]["key"] == "300750.SZ"
    assert table.loc["c", "status"] == "verified"


def test_rel_error_and_tolerance_follow_rtol_atol():
    mig = _frame()[["b"]]
    ref = mig.astype(np.float64) * (1 + 5e-5)  # 5x rtol on values around 10
    table = compare(mig, ref, reference_kind="code").frame().set_index("factor")
    assert table.loc["b", "status"] == "failed"
    assert table.loc["b", "max_rel_err"] == pytest.approx(5e-5, rel=1e-2)
    loose = compare(mig, ref, reference_kind="code", rtol=1e-4).frame().set_index("factor")
    assert loose.loc["b", "status"] == "verified"


def test_windows_missing_rows_and_absent_columns():
    mig = _frame()
    ref = mig.drop(index=DATES[-1], level="datetime")[["a", "b"]].copy()
    ref.loc[(DATES[5], "000001.SZ"), "a"] = 99.0
    windows = {"early": (DATES[0], DATES[9]), "late": (DATES[30], None)}
    table = compare(mig, ref, reference_kind="code", windows=windows, notes={"c": "sandbox: boom"}).frame()
    row = table.set_index(["factor", "window"])
    assert row.loc[("a", "early"), "status"] == "failed" and row.loc[("a", "late"), "cells_out_of_tolerance"] == 0
    assert row.loc[("a", "late"), "rows_missing"] == len(CODES) and row.loc[("a", "late"), "status"] == "failed"
    assert row.loc[("b", "early"), "status"] == "verified"
    assert row.loc[("c", "early"), "note"] == "sandbox: boom" and row.loc[("c", "early"), "rows_compared"] == 0
    assert row.loc[("a", "late"), "window_start"] == DATES[30]


def test_bad_frames_raise_factor_error():
    mig = _frame()
    with pytest.raises(FactorError, match="indexed by"):
        compare(mig.reset_index(), mig, reference_kind="code")
    with pytest.raises(FactorError, match="unknown reference kind"):
        compare(mig, mig, reference_kind="magic")


def test_parquet_reference_parses_feature_columns(tmp_path):
    mig = _frame()
    raw = mig.copy()
    raw.columns = [f"('feature', '{c}')" for c in raw.columns]
    raw["('label', 'LABEL0')"] = 1.0
    raw = raw.swaplevel().sort_index()
    raw.index = raw.index.set_levels(["SZ000001", "SZ300750", "SH600000", "SH600519"], level=0, verify_integrity=False)
    path = tmp_path / "combined_factors_df.parquet"
    raw.to_parquet(path)
    ref = parquet_reference(path)
    assert list(ref.columns) == ["a", "b", "c"]
    assert list(ref.index.names) == ["datetime", "instrument"]
    assert set(ref.index.get_level_values("instrument")) <= {"000001.SZ", "300750.SZ", "600000.SH", "600519.SH"}
    with pytest.raises(FactorError, match="lacks factor"):
        parquet_reference(path, names=["zz"])
    with pytest.raises(FactorError, match="does not exist"):
        parquet_reference(tmp_path / "nope.parquet")


def test_registry_and_alignment_rows_upsert_in_one_transaction(db_url):
    db = Database(db_url)
    try:
        register_factors(db, [FactorEntry("a", "rdagent", "Mean($close, 5)", "f" * 64),
                              FactorEntry("b", "rdagent", "Std($close, 5)", "e" * 64)])
        assert factor_status(db)["status"].tolist() == ["migrated", "migrated"]
        mig = _frame()[["a", "b"]]
        ref = mig.astype(np.float64).copy()
        ref.loc[(DATES[1], "600000.SH"), "b"] = np.nan
        report = compare(mig, ref, reference_kind="code", windows={"full": (None, None), "q": (DATES[0], DATES[9])})
        assert record_alignment(db, report, source="rdagent") == 4
        status = factor_status(db).set_index("name")
        assert status.loc["a", "status"] == "verified" and status.loc["a", "expression"] == "Mean($close, 5)"
        assert status.loc["b", "status"] == "failed" and "full vs code" in status.loc["b", "error"]
        # rerun with a fixed reference: same keys updated in place, not duplicated
        report2 = compare(mig, mig, reference_kind="code", windows={"full": (None, None), "q": (DATES[0], DATES[9])})
        record_alignment(db, report2, source="rdagent")
        rows = alignment_results(db)
        assert len(rows) == 4 and (rows["status"] == "verified").all()
        assert factor_status(db).set_index("name").loc["b", "error"] is None
        assert rows.iloc[0]["worst_instruments"] == [] and rows.iloc[0]["rtol"] == 1e-5
    finally:
        db.dispose()


def test_invalid_entry_writes_nothing(db_url):
    db = Database(db_url)
    try:
        mig = _frame()[["a"]]
        report = compare(mig, mig, reference_kind="code")
        with pytest.raises(FactorError):
            record_alignment(db, report, source="rdagent", entries=[FactorEntry("a", "rdagent", status="bogus")])
        assert factor_status(db).empty and alignment_results(db).empty
    finally:
        db.dispose()

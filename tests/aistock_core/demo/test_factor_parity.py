"""Every RD-Agent-style factor of the demo export: its original ``factor.py`` (sandboxed) against our engine on
its migrated Qlib expression, within rtol 1e-5 / atol 1e-6 and with identical NaN/inf patterns.

Data: 40 synthetic instruments, the last 120 sessions of 2020-01 … 2021-06 (seed 2): the window holds late
listings, delistings, multi-day suspensions and ex-rights days (asserted below, from the data). Both sides see
the same qfq window (rdagent.md §8: the code reads daily_pv.h5, so `run_check` computes ours on the qfq view).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from aistock_core.data.service import DataService
from aistock_core.data.synthetic import SyntheticMarket
from aistock_core.demo.export import write_demo_export
from aistock_core.demo.factors import DEMO_FACTORS, FACTORS_BY_NAME
from aistock_core.factors.alignment import compare
from aistock_core.factors.engine import compute_frame
from aistock_core.factors.verify import CheckOutcome, run_check

SESSIONS = 120
EXPRESSIONS = {f.name: f.expression for f in DEMO_FACTORS}
SOURCES = {f.name: f.source for f in DEMO_FACTORS}


@pytest.fixture(scope="module")
def service() -> DataService:
    return DataService(SyntheticMarket(seed=2, n_instruments=40, start="2020-01-02", end="2021-06-30"))


@pytest.fixture(scope="module")
def start(service) -> pd.Timestamp:
    return service.resolve_dates()[-SESSIONS]


@pytest.fixture(scope="module")
def outcome(service, start, os_sandbox) -> CheckOutcome:
    """One check of all five: each factor's code runs once in the sandbox on one shared daily_pv.h5."""
    return run_check(service, "all", EXPRESSIONS, "code", start=start, code_sources=SOURCES)


def test_the_window_holds_the_market_events(service, start):
    panel = service.get_panel("all", fields=["close", "factor"], adjust=None)
    inside = panel.dates >= start
    listed = panel.listed
    first = listed.argmax(axis=0)
    last = len(panel.dates) - 1 - listed[::-1].argmax(axis=0)
    w0 = int(np.flatnonzero(inside)[0])
    assert ((first > w0) & listed.any(axis=0)).sum() >= 1, "a listing inside the window"
    assert (last < len(panel.dates) - 1)[last >= w0].sum() >= 1, "a delisting inside the window"
    assert np.isnan(panel["close"][inside][listed[inside]]).sum() >= 10, "suspended (listed, no bar) sessions"
    both = listed[1:] & listed[:-1] & inside[1:, None]
    assert (np.diff(panel["factor"], axis=0) != 0)[both].sum() >= 5, "ex-rights days"


@pytest.mark.parametrize("name", list(EXPRESSIONS))
def test_factor_code_and_migrated_expression_agree(outcome, start, name):
    assert outcome.failures == {}, outcome.failures
    row = outcome.report.frame().set_index("factor").loc[name]
    assert row["status"] == "verified", row.to_dict()
    assert row["nan_mismatches"] == 0 and row["cells_out_of_tolerance"] == 0 and row["rows_missing"] == 0
    assert row["rows_compared"] == len(outcome.migrated) and row["window_start"] == start
    assert outcome.migrated[name].notna().sum() > 0.9 * len(outcome.migrated)


def test_warm_up_and_suspensions_are_compared_not_skipped(outcome, service, start):
    """Qlib semantics give values where pandas' default ``rolling(N)`` gives NaN: on a suspended day (a NaN row
    inside the window) and on a new listing's first days. Those cells exist here and agreed above."""
    bars = service.get_history_window("all", start=start, fields=["close"], adjust="qfq")
    values = outcome.migrated.reindex(bars.index)
    suspended = bars["close"].isna()
    assert values.loc[suspended, "range_5d"].notna().sum() >= 5
    assert values.loc[suspended, "volatility_20d"].notna().sum() >= 5
    seen = bars.groupby(level="instrument").cumcount()
    new = seen.index.get_level_values("instrument").isin(
        service.provider.instrument_spans("all").query("start > @start")["instrument"])
    assert values.loc[new & (seen < 4), "range_5d"].notna().sum() >= 2, "a new listing's first days have values"


def test_defaults_of_pandas_rolling_would_not_match(service, start):
    """The control: the same code with pandas' default ``min_periods=N`` fails the check on NaN patterns."""
    rolling = ["vol_ratio_10d", "volatility_20d", "range_5d"]
    sources = {n: SOURCES[n].replace(", min_periods=1)", ")") for n in rolling}
    assert all(sources[n] != SOURCES[n] for n in rolling)
    report = run_check(service, "all", {n: EXPRESSIONS[n] for n in rolling}, "code", start=start,
                       code_sources=sources).report
    table = report.frame().set_index("factor")
    assert report.failed == rolling and (table["nan_mismatches"] > 0).all()


def test_qlib_view_equals_the_qfq_view(outcome, service, start):
    """The factors are scale-free, so the stored values (qlib view) and the checked ones (qfq) agree to
    float32 rounding: the check on qfq vouches for what production computes."""
    qlib_view = compute_frame(service, "all", EXPRESSIONS, start=start)
    report = compare(qlib_view, outcome.migrated.astype(np.float64), reference_kind="code")
    assert report.ok, report.frame()[["factor", "max_abs_err", "max_rel_err", "nan_mismatches"]]
    assert (report.frame()["rows_compared"] == len(outcome.migrated)).all()


def test_the_export_ships_the_same_code_and_expressions(service, tmp_path):
    """What the demo export writes is what the parity above judged (and what the Dagster set uses)."""
    root = write_demo_export(service, tmp_path / "export", replay=False)
    catalog = json.loads((root / "RDagentDB/aistock/factor_catalog.json").read_text())["factors"]
    generated = {f["name"]: f for f in catalog if f["source"] == "rdagent_generated"}
    assert set(generated) == set(EXPRESSIONS)
    for name, entry in generated.items():
        assert entry["expression"] == EXPRESSIONS[name]
        assert entry["formula_hint"] == FACTORS_BY_NAME[name].formulation
    files = {p.name.removesuffix("_factor.py"): p.read_text()
             for p in (root / "git_ignore_folder/RD-Agent_workspace").glob("*/*_factor.py")}
    assert files == SOURCES


@pytest.mark.qlib
def test_the_expressions_are_qlibs_and_qlib_agrees(service, start):
    """The migrations are real Qlib expressions (no unary minus, which Qlib cannot parse) and pyqlib 0.9.7 gives
    the same values on the same data: code = our engine = Qlib."""
    report = run_check(service, "all", EXPRESSIONS, "qlib", start=start).report
    assert report.ok, report.frame()[["factor", "max_abs_err", "nan_mismatches", "note"]]

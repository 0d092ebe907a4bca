"""Engine: alignment, shared sub-expressions, look-back/future loading in compute_frame, errors."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pandas as pd
import pytest

from aistock_core.data.panel import Panel
from aistock_core.data.service import DataService
from aistock_core.data.synthetic import SyntheticMarket
from aistock_core.errors import FactorError
from aistock_core.factors import engine, ops, ordinal
from aistock_core.factors.alpha158 import ALPHA158_LABEL, alpha158_expressions
from aistock_core.factors.engine import FactorEngine, compute, compute_frame


@pytest.fixture(scope="module")
def service() -> DataService:
    return DataService(SyntheticMarket(seed=6, n_instruments=30, start="2021-01-04", end="2021-12-31"))


@pytest.fixture(scope="module")
def panel(service) -> Panel:
    return service.get_panel("all", fields=["open", "high", "low", "close", "volume", "vwap"], dtype=np.float32)


def test_compute_returns_float32_arrays_aligned_to_the_panel(panel):
    out = compute(panel, {"ma": "Mean($close, 5)/$close", "up": "$close > $open"})
    assert list(out) == ["ma", "up"]
    for arr in out.values():
        assert arr.dtype == np.float32 and arr.shape == panel.listed.shape
        assert np.isnan(arr[~panel.listed]).all()
    assert set(np.unique(out["up"][panel.listed])) <= {0.0, 1.0}


def _count_calls(monkeypatch, op: str) -> list[int]:
    """Record the window of every evaluation of operator ``op``."""
    spec = ops.OPERATORS[op]
    calls: list[int] = []

    def counting(geo, x, n, *rest):
        calls.append(n)
        return spec.fn(geo, x, n, *rest)

    monkeypatch.setitem(ops.OPERATORS, op, dataclasses.replace(spec, fn=counting))
    return calls


def test_shared_subexpressions_are_computed_once(panel, monkeypatch):
    calls = _count_calls(monkeypatch, "Mean")
    compute(panel, {"a": "Mean($close, 5)/$close", "b": "Mean($close,5) + 1", "c": "Mean($close, 10)"})
    assert sorted(calls) == [5, 10]


def test_operators_share_their_helper_moments(panel, monkeypatch):
    var_calls = _count_calls(monkeypatch, "Var")
    reg_calls = _count_calls(monkeypatch, "_Reg")
    exprs = {"std": "Std($close, 5)", "rsq": "Rsquare($close, 5)", "corr": "Corr($close, $open, 5)",
             "beta": "Slope($close, 5)", "resi": "Resi($close, 5)", "var": "Var($close, 5)"}
    shared = compute(panel, exprs)
    assert var_calls == [5]  # Var($close, 5) once (Corr computes its moments in its own fused pass)
    assert reg_calls == [5]  # one regression state for Slope, Resi and Rsquare
    for name, text in exprs.items():  # sharing changes nothing in the values
        np.testing.assert_array_equal(shared[name], compute(panel, {name: text})[name])


def test_quantile_levels_and_rank_of_one_window_share_one_sort_and_stay_exact(panel, monkeypatch):
    calls = []
    real = ordinal.rolling_order_stats

    def spy(g, a, w, qs, rank):
        calls.append((w, tuple(qs), rank))
        return real(g, a, w, qs, rank)

    monkeypatch.setattr(engine, "rolling_order_stats", spy)
    exprs = {"u": "Quantile($close, 10, 0.8)", "r": "Rank($close, 10)", "d": "Quantile($close, 10, 0.2)",
             "r5": "Rank($close, 5)"}
    shared = compute(panel, exprs)
    assert calls == [(10, (0.8, 0.2), True)]  # Rank($close, 5) alone goes through the Rank operator
    for name, text in exprs.items():
        np.testing.assert_array_equal(shared[name], compute(panel, {name: text})[name], err_msg=name)


def test_engine_reports_fields_and_lookback():
    engine = FactorEngine({"x": "Mean($close, 5)/Ref($open, 7)", "y": ALPHA158_LABEL})
    assert engine.fields == ["close", "open"]
    assert (engine.lookback, engine.future) == (7, 2)


def test_compute_frame_start_equals_full_history(service):
    exprs = {**alpha158_expressions(), "LABEL0": ALPHA158_LABEL}
    full = compute_frame(service, "all", exprs)
    start, end = "2021-06-01", "2021-09-30"
    part = compute_frame(service, "all", exprs, start=start, end=end)
    assert list(part.columns) == list(exprs)
    assert (part.dtypes == np.float32).all()
    assert part.index.names == ["datetime", "instrument"] and part.index.is_monotonic_increasing
    window = full.loc[pd.Timestamp(start):pd.Timestamp(end)]
    pd.testing.assert_frame_equal(part, window)
    # the label at `end` reads two sessions past it: loaded, not NaN
    assert part.xs(pd.Timestamp(end), level="datetime")["LABEL0"].notna().any()


def test_compute_frame_without_lookback_differs_at_start(service):
    exprs = {"MA20": "Mean($close, 20)/$close"}
    with_back = compute_frame(service, "all", exprs, start="2021-06-01")
    without = compute_frame(service, "all", exprs, start="2021-06-01", lookback=0)
    first = pd.Timestamp("2021-06-01")
    assert not np.allclose(with_back.loc[first, "MA20"], without.loc[first, "MA20"], equal_nan=True)


def test_compute_frame_equals_the_stack_at_every_kept_cell(service, panel):
    """The long frame is written cell by cell (`compute_cells`); read back through the (T × N) stack, which keeps
    every cell, it must hold the same float32 value at the same (day, instrument), in blocks of any size."""
    exprs = {"ma": "Mean($close, 5)/$close", "corr": "Corr($close, Log($volume+1), 10)", "label": ALPHA158_LABEL}
    eng = FactorEngine(exprs)
    eng.block = 7  # several blocks, the last one partial
    frame = compute_frame(service, "all", eng, start="2021-03-01", end="2021-10-29")
    stack = FactorEngine(exprs).compute_stack(service.get_panel("all", fields=eng.fields, adjust="qlib",
                                                                 dtype=np.float32))
    t = panel.dates.get_indexer(frame.index.get_level_values("datetime"))
    i = panel.instruments.get_indexer(frame.index.get_level_values("instrument"))
    for k, name in enumerate(exprs):
        np.testing.assert_array_equal(frame[name].to_numpy(), stack[k, t, i])


def test_instrument_order_orders_each_day(service):
    """``instrument_order``: each day's rows in the given order (here: codes reversed), the same values."""
    exprs = {"ma": "Mean($close, 5)/$close"}
    plain = compute_frame(service, "all", exprs, start="2021-06-01", end="2021-06-30")
    reversed_ = compute_frame(service, "all", exprs, start="2021-06-01", end="2021-06-30",
                              instrument_order=lambda codes: np.arange(len(codes))[::-1])
    days = reversed_.index.get_level_values("datetime")
    assert days.is_monotonic_increasing
    for day in days.unique():
        codes = reversed_.xs(day, level="datetime").index
        assert list(codes) == sorted(codes, reverse=True)
    pd.testing.assert_frame_equal(reversed_.sort_index(), plain)


def test_rows_are_listed_cells_only(service, panel):
    frame = compute_frame(service, "all", {"c": "$close"})
    assert len(frame) == int(panel.listed.sum())


@pytest.mark.parametrize(
    ("exprs", "fragment"),
    [
        ({}, "no factor expressions"),
        ({"bad": "Mean($close, 5"}, "factor 'bad'"),
        ({"k": "1 + 2"}, "constant"),
    ],
)
def test_bad_expressions_raise_before_computing(exprs, fragment):
    with pytest.raises(FactorError, match=fragment):
        FactorEngine(exprs)


def test_missing_panel_field_is_a_factor_error(panel):
    with pytest.raises(FactorError, match="amount"):
        compute(panel, {"a": "$amount / $volume"})


def test_type_errors_during_evaluation_name_the_factor(panel):
    with pytest.raises(FactorError, match="factor 'bits'"):
        compute(panel, {"bits": "$close & $open"})


def test_float64_panel_is_read_as_float32_like_qlib_bins(panel):
    as64 = Panel(panel.dates, panel.instruments, {k: v.astype(np.float64) for k, v in panel.values.items()},
                 panel.listed)
    exprs = {"r": "$close/$open - 1"}
    np.testing.assert_array_equal(compute(as64, exprs)["r"], compute(panel, exprs)["r"])


@pytest.mark.parametrize(("t", "n"), [(1, 3), (2, 2), (3, 0), (0, 2)])
def test_tiny_and_empty_panels(t, n):
    """Windows longer than the data, and empty panels, give the min_periods=1 values, not errors."""
    dates = pd.DatetimeIndex(pd.bdate_range("2022-01-03", periods=t), name="datetime")
    codes = pd.Index([f"60000{i}.SH" for i in range(n)], name="instrument")
    values = {f: np.full((t, n), 10, np.float32) for f in ("open", "high", "low", "close", "volume", "vwap")}
    exprs = {**alpha158_expressions(), "LABEL0": ALPHA158_LABEL, "RANK0": "Rank($close, 0)"}
    out = compute(Panel(dates, codes, values, np.ones((t, n), bool)), exprs)
    assert all(arr.shape == (t, n) for arr in out.values())
    if t and n:
        np.testing.assert_array_equal(out["IMAX60"], np.float32(1 / 60))  # a flat window: the oldest wins
        assert np.isnan(out["STD5"][0]).all() and np.isnan(out["LABEL0"]).all()


@pytest.mark.parametrize("threads", [1, 3])
def test_instrument_blocks_do_not_change_results(panel, threads):
    """Blocks of any size, computed one after another or on threads side by side: the same values."""
    exprs = {**alpha158_expressions(), "LABEL0": ALPHA158_LABEL}
    whole = FactorEngine(exprs)
    whole.block, whole.threads = 30, 1  # one block, this thread
    expected = whole.compute(panel)
    blocked = FactorEngine(exprs)
    blocked.block, blocked.threads = 7, threads  # 30 instruments → 5 blocks, the last one short
    for name, arr in blocked.compute(panel).items():
        np.testing.assert_array_equal(arr, expected[name], err_msg=name)


@pytest.mark.parametrize(("t", "n", "threads", "blocks"), [
    (61, 4258, 2, 4), (1500, 500, 2, 8), (1500, 500, 3, 9), (100, 1500, 2, 2),  # several: a multiple of threads
    (20, 30, 2, 1), (1500, 1, 4, 1), (0, 0, 2, 0)])  # one block's size or less: whole
def test_blocks_cover_every_instrument_once_in_a_multiple_of_the_threads(t, n, threads, blocks):
    cols = FactorEngine({"ma": "Mean($close, 5)"})._blocks(t, n, threads)
    assert len(cols) == blocks
    assert np.array_equal(np.concatenate([np.arange(n)[c] for c in cols] or [np.arange(0)]), np.arange(n))


def test_a_failing_block_stops_the_compute(panel, monkeypatch):
    """The first block's error is raised; blocks not started by then are never started."""
    eng = FactorEngine({"ma": "Mean($close, 5)/$close"})
    eng.block, eng.threads = 1, 2  # 30 blocks on two threads
    started = []

    def compute_block(panel, cols, write):
        started.append(cols.start)
        if cols.start == 0:
            raise FactorError("block 0 failed")
        time.sleep(0.01)

    monkeypatch.setattr(eng, "_compute_block", compute_block)
    with pytest.raises(FactorError, match="block 0 failed"):
        eng.compute_stack(panel)
    assert 0 in started and len(started) < 30

"""The demo export: contract layout, determinism, metrics from data, and factor.py code that really runs."""

from __future__ import annotations

import filecmp
import json
import sqlite3
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from aistock_core.data.h5 import write_daily_pv
from aistock_core.data.service import DataService
from aistock_core.data.synthetic import SyntheticMarket
from aistock_core.demo.export import (
    REPLAY_BACKTEST,
    REPLAY_LOOP,
    REPLAY_STRATEGY,
    REPLAY_TAG,
    write_demo_export,
)
from aistock_core.demo.factors import DEMO_FACTORS
from aistock_core.research.export_dir import ExportDirSource
from aistock_core.strategy.backtest.engine import run_backtest
from aistock_core.strategy.backtest.market import load_market
from aistock_core.strategy.config import BacktestSettings, strategy_from_config
from aistock_core.strategy.reconcile import (
    FLOAT32_TOLERANCES,
    QLIB_KEYS,
    read_qlib_res,
    reconcile,
    replay_window,
)
from aistock_core.strategy.signals import DEFAULT_SIGNAL, signal_scores


def _same_tree(a, b) -> bool:
    cmp = filecmp.dircmp(a, b)
    if cmp.left_only or cmp.right_only or cmp.diff_files:
        return cmp.diff_files == ["registry.sqlite"] and _same_registry(a / "registry.sqlite", b / "registry.sqlite")
    return all(_same_tree(a / d, b / d) for d in cmp.common_dirs)


def _same_registry(a, b) -> bool:
    def dump(path):
        with sqlite3.connect(path) as conn:
            return list(conn.iterdump())
    return dump(a) == dump(b)


def test_layout_and_registry_tables(demo_export_master):
    db = demo_export_master / "RDagentDB"
    for name in ("factor_catalog", "strategy_catalog", "loop_catalog", "model_catalog", "alpha158_meta"):
        assert (db / "aistock" / f"{name}.json").is_file()
    with sqlite3.connect(db / "registry.sqlite") as conn:
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
        assert tables == {"task_runs", "loops", "workspaces", "artifacts", "artifact_files", "factor_registry"}
        assert conn.execute("select count(*) from loops where is_solidified=1").fetchone()[0] == 5
    src = ExportDirSource(demo_export_master)
    models = src.catalog("models")["models"]
    assert {m["model_config"]["class"] for m in models} == {"LGBModel", "GeneralPTNN"}
    ptnn = next(m for m in models if m["model_config"]["class"] == "GeneralPTNN")
    bundle = db / "production_bundles"
    assert any((p / "workspaces").rglob("model.py") for p in bundle.iterdir())
    assert ptnn["model_config"]["kwargs"]["pt_model_kwargs"]["num_features"] == 22
    ws = demo_export_master / "git_ignore_folder" / "RD-Agent_workspace" / ptnn["workspace_id"]
    res = pd.read_csv(ws / "qlib_res.csv", index_col=0).iloc[:, 0]
    assert res["1day.excess_return_with_cost.max_drawdown"] <= 0
    perf = json.loads((ws / "factor_perf.json").read_text())
    assert perf["combinations"][0]["windows"][0]["sharpe"] == pytest.approx(
        res["1day.excess_return_without_cost.information_ratio"])
    assert json.loads((ws / "feedback.json").read_text())["decision"] is True


def test_deterministic_in_seed_and_data(demo_service, demo_export_master, tmp_path):
    again = write_demo_export(demo_service, tmp_path / "again", seed=11)
    assert _same_tree(demo_export_master, again)
    other = DataService(SyntheticMarket(seed=12, n_instruments=60, start="2024-01-02", end="2025-03-31"))
    loops_a = json.loads((demo_export_master / "RDagentDB/aistock/loop_catalog.json").read_text())["loops"]
    loops_b = json.loads((write_demo_export(other, tmp_path / "other", seed=12, replay=False) /
                          "RDagentDB/aistock/loop_catalog.json").read_text())["loops"]
    assert [lp["ic"] for lp in loops_a] != [lp["ic"] for lp in loops_b]


@pytest.mark.parametrize("factor", DEMO_FACTORS, ids=lambda f: f.name)
def test_factor_code_runs_like_rdagent_and_matches_the_formula(factor, demo_service, tmp_path):
    write_daily_pv(demo_service, "all", tmp_path / "daily_pv.h5", start="2024-10-01", end="2025-03-31")
    (tmp_path / "factor.py").write_text(factor.source)
    subprocess.run([sys.executable, "factor.py"], cwd=tmp_path, check=True, timeout=60)
    result = pd.read_hdf(tmp_path / "result.h5", key="data")
    assert list(result.columns) == [factor.name] and result.dtypes.iloc[0] == np.float32
    pv = pd.read_hdf(tmp_path / "daily_pv.h5", key="data")
    assert result.index.equals(pv.index)
    wide = {c: pv[c].astype("float64").unstack("instrument") for c in ("open", "high", "low", "close", "volume")}
    expected = factor.wide(wide).stack(future_stack=True).reindex(pv.index)
    np.testing.assert_allclose(result[factor.name].to_numpy("float64"), expected.to_numpy(), rtol=1e-4, atol=1e-5)


def _loops(export) -> list[dict]:
    return json.loads((export / "RDagentDB/aistock/loop_catalog.json").read_text())["loops"]


@pytest.mark.qlib
def test_replay_loop_records_qlibs_own_backtest_which_our_replay_matches(demo_service, demo_export_master):
    (ref,) = [lp for lp in _loops(demo_export_master) if "replay_reference" in lp]
    info = ref["replay_reference"]
    assert (ref["loop_id"], ref["factor_names"]) == (REPLAY_LOOP.loop_id, list(REPLAY_LOOP.factors))
    assert info["tag"] == REPLAY_TAG and info["engine"].startswith("qlib 0.9") and info["signal"] == DEFAULT_SIGNAL
    ws = demo_export_master / "git_ignore_folder" / "RD-Agent_workspace" / ref["workspace_id"]
    recorded = read_qlib_res(ws / "qlib_res.csv")
    assert {k: recorded[k] for k in QLIB_KEYS} == pytest.approx({k: ref["metrics"][k] for k in QLIB_KEYS}, rel=1e-14)
    assert "start_time: " + json.dumps(info["start_time"]) in (ws / "conf.yaml").read_text()
    # Our Qlib-mode replay of the same inputs, computed here independently, agrees within storage noise.
    start, end = replay_window(demo_service, 250)
    assert [f"{start:%Y-%m-%d}", f"{end:%Y-%m-%d}"] == [info["start_time"], info["end_time"]]
    cal = demo_service.calendar
    settings = BacktestSettings.from_qlib(REPLAY_BACKTEST)
    market = load_market(demo_service, "all", start, end, benchmark=settings.benchmark)
    scores = signal_scores(demo_service, "all", cal.previous(start), cal.previous(end))
    ours = run_backtest(market, scores, strategy_from_config(REPLAY_STRATEGY), account=settings.account,
                        exchange=settings.exchange)
    result = reconcile(ours.risk, recorded, FLOAT32_TOLERANCES)
    assert result.passed, result.to_markdown()
    assert result.table["abs_diff"].max() > 0, "recorded figures must come from Qlib, not from our engine"


def test_without_qlib_no_loop_is_designated(demo_service, tmp_path):
    export = write_demo_export(demo_service, tmp_path / "plain", seed=11, replay=False)
    assert not any("replay_reference" in lp for lp in _loops(export))

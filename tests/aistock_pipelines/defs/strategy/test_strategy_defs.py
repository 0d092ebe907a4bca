"""Strategy assets through Dagster on a small synthetic market: backtest + reconciliation, target positions."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import dagster as dg
import pandas as pd
import pytest

from aistock_core.db.models.research import ResearchLoopKpi
from aistock_core.demo.specs import REPLAY_SPEC as DEFAULT_SPEC
from aistock_pipelines.defs.strategy.assets import build_target_positions
from aistock_pipelines.defs.strategy.checks import build_backtest
from aistock_pipelines.resources import DatabaseResource, DataServiceResource, StoreResource

SPEC = replace(
    DEFAULT_SPEC,
    name="small",
    strategy={"class": "TopkDropoutStrategy", "kwargs": {"signal": "<PRED>", "topk": 8, "n_drop": 2}},
    backtest={**DEFAULT_SPEC.backtest, "start_time": "2023-01-03", "end_time": "2023-04-28", "account": 1e7},
    recorded_tag=None,  # linked below to a file or catalog rows; the tagged reference: test_reconcile_demo.py
    tolerances={},
)


@pytest.fixture
def resources(aistock_home, tmp_path):
    return {
        "data": DataServiceResource(data_source="synthetic", synthetic_seed=3, synthetic_instruments=30),
        "store": StoreResource(root=str(tmp_path / "store")),
        "database": DatabaseResource(url=f"sqlite:///{tmp_path / 'app.db'}"),
    }


def _run(spec, resources):
    asset, check = build_backtest(spec)
    result = dg.materialize([asset, check], resources=resources)
    assert result.success
    mat = result.asset_materializations_for_node(f"backtest_{spec.name}")[0]
    evaluation = result.get_asset_check_evaluations()[0]
    return mat, evaluation


def test_backtest_asset_metadata_and_unlinked_check_reports_nothing_reconciled(resources):
    mat, evaluation = _run(SPEC, resources)
    md = mat.metadata
    assert "excess return with cost" in md["kpis"].value
    assert md["nav_plot"].value.startswith("![nav](data:image/png;base64,")
    assert md["trades_buys"].value > 0 and md["window"].value.startswith("2023-01-03")
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert "nothing reconciled" in evaluation.description
    risk = json.loads((SPEC.output_dir(resources["store"].resolved_root()) / "risk.json").read_text())
    assert risk["window"] == ["2023-01-03", "2023-04-28"] and risk["signal"] == DEFAULT_SPEC.signal


def test_reconciliation_against_qlib_res_csv_passes_and_fails(resources, tmp_path):
    _run(SPEC, resources)
    ours = json.loads((SPEC.output_dir(resources["store"].resolved_root()) / "risk.json").read_text())["metrics"]
    keys = [k for k in ours if k.startswith("1day.excess_return_")]
    good = tmp_path / "qlib_res.csv"
    pd.Series({**{"IC": 0.03}, **{f"{k} ": ours[k] for k in keys}}).to_csv(good)  # trailing space, as one path writes
    _, ok = _run(replace(SPEC, recorded_qlib_res=str(good)), resources)
    assert ok.passed and ok.metadata["compared"].value == 10
    bad = tmp_path / "bad.csv"
    shifted = {k: ours[k] for k in keys} | {keys[2]: ours[keys[2]] * 1.01}
    pd.Series(shifted).to_csv(bad)
    _, failed = _run(replace(SPEC, recorded_qlib_res=str(bad)), resources)
    assert not failed.passed and failed.metadata["failed"].value == 1


def test_reconciliation_against_catalog_rows(resources):
    _run(SPEC, resources)
    ours = json.loads((SPEC.output_dir(resources["store"].resolved_root()) / "risk.json").read_text())["metrics"]
    now = datetime.now(UTC)
    with resources["database"].get_db().session() as session:
        for basis in ("with_cost", "without_cost"):
            pre = f"1day.excess_return_{basis}."
            session.add(ResearchLoopKpi(
                scope="task_run", run_id="r1", loop_id=3, cost_basis=basis, content_hash="x", payload={},
                first_seen_at=now, synced_at=now, annualized_return=ours[pre + "annualized_return"],
                max_drawdown=ours[pre + "max_drawdown"], information_ratio=ours[pre + "information_ratio"],
                mean_return=ours[pre + "mean"], std_return=ours[pre + "std"],
            ))
    _, evaluation = _run(replace(SPEC, recorded_loop=("r1", 3)), resources)
    assert evaluation.passed and evaluation.metadata["compared"].value == 10


def test_target_positions_partition(resources):
    asset = build_target_positions(SPEC, lookback=30)
    result = dg.materialize([asset], resources=resources, partition_key="2023-03-15")
    assert result.success
    md = result.asset_materializations_for_node("target_positions")[0].metadata
    # topk names, plus any holding a refused sale (limit, suspension) left behind, as in Qlib
    assert md["names"].value >= 8 and md["next_session"].value == "2023-03-16"
    assert 0.9 < md["invested"].value <= 1.0
    frame = resources["store"].get_store().read_partition("target_positions", "2023-03-15")
    assert set(frame["action"]) <= {"buy", "sell", "hold"} and (frame["weight"] >= 0).all()

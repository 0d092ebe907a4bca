"""The demo's reconciliation for real: research's Qlib backtest (the export's reference loop) vs our replay.

One synthetic market feeds both sides: the demo export designates its reference loop with KPIs from Qlib
0.9.7's own backtest, the research sync carries them into ``research_loop_kpis``, and the default spec's
check finds the loop by its tag, compares inputs and figures, and fails when a recorded KPI is perturbed.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from aistock_core.demo.export import REPLAY_LOOP, REPLAY_TAG, write_demo_export
from aistock_core.demo.specs import REPLAY_SPEC as DEFAULT_SPEC
from aistock_pipelines.defs.research.assets import RDAgentSourceResource, research_catalog_sync
from aistock_pipelines.defs.strategy.checks import build_backtest
from aistock_pipelines.resources import DatabaseResource, DataServiceResource, StoreResource

ANNUAL = "1day.excess_return_without_cost.annualized_return"


@pytest.fixture
def demo(aistock_home, monkeypatch, tmp_path):
    """Resources of a small demo (80 names, 2024-01..2025-03) and a function writing its export."""
    monkeypatch.setenv("AISTOCK_SYNTHETIC_START", "2024-01-02")
    monkeypatch.setenv("AISTOCK_SYNTHETIC_END", "2025-03-31")
    data = DataServiceResource(data_source="synthetic", synthetic_seed=3, synthetic_instruments=80)

    def resources(replay: bool | None = None) -> dict:
        export = write_demo_export(data.get_service(), tmp_path / "export", seed=3, replay=replay)
        return {"data": data, "store": StoreResource(root=str(tmp_path / "store")),
                "database": DatabaseResource(url=f"sqlite:///{tmp_path / 'app.db'}"),
                "rdagent": RDAgentSourceResource(source=str(export))}

    return resources


def _run(resources: dict) -> dg.AssetCheckEvaluation:
    asset, check = build_backtest(DEFAULT_SPEC)
    result = dg.materialize([research_catalog_sync, asset, check], resources=resources)
    assert result.success
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


def _perturb(export: Path, key: str, factor: float) -> None:
    """Scale one recorded KPI of the reference loop where the sync reads it (catalog over registry)."""
    path = export / "RDagentDB" / "aistock" / "loop_catalog.json"
    catalog = json.loads(path.read_text())
    (entry,) = [e for e in catalog["loops"] if e.get("replay_reference", {}).get("tag") == REPLAY_TAG]
    entry["metrics"][key] *= factor
    path.write_text(json.dumps(catalog))


@pytest.mark.qlib
def test_demo_check_reconciles_qlib_reference_and_fails_on_a_perturbed_kpi(demo):
    resources = demo()
    evaluation = _run(resources)
    md = evaluation.metadata
    assert evaluation.passed, md["deviations"].value
    assert md["compared"].value == 10 and md["failed"].value == 0
    assert md["reference_engine"].value.startswith("qlib ")
    assert f", {REPLAY_LOOP.loop_id}), tagged" in md["recorded_from"].value
    assert f"| {ANNUAL} |" in md["deviations"].value and "❌" not in md["deviations"].value
    # Independent engines on float32 vs float64 bars: close, but not bit-equal (so this is no self-comparison).
    assert 0 < md["max_rel_diff"].value < 1e-2

    _perturb(Path(resources["rdagent"].source), ANNUAL, 1.10)
    failed = _run(resources)
    assert not failed.passed and failed.metadata["failed"].value == 1
    assert ANNUAL in failed.description
    assert f"| {ANNUAL} |" in failed.metadata["deviations"].value and "❌" in failed.metadata["deviations"].value


@pytest.mark.qlib
def test_check_fails_when_the_reference_ran_on_other_inputs(demo):
    resources = demo()
    path = Path(resources["rdagent"].source) / "RDagentDB" / "aistock" / "loop_catalog.json"
    catalog = json.loads(path.read_text())
    for entry in catalog["loops"]:
        if "replay_reference" in entry:
            entry["replay_reference"]["strategy"]["kwargs"]["n_drop"] = 3
    path.write_text(json.dumps(catalog))
    evaluation = _run(resources)
    assert not evaluation.passed and "inputs differ" in evaluation.description and "strategy" in evaluation.description


def test_without_a_reference_loop_the_check_reports_nothing_reconciled(demo):
    evaluation = _run(demo(replay=False))
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    assert "nothing reconciled" in evaluation.description and REPLAY_TAG in evaluation.description

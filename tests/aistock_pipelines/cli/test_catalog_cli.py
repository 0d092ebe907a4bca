"""``aistock catalog sync|list|show|mark|unmark`` through the real typer app on a demo export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aistock_core.data.service import DataService
from aistock_core.data.synthetic import SyntheticMarket
from aistock_core.demo.export import write_demo_export
from aistock_pipelines.cli.main import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    service = DataService(SyntheticMarket(seed=3, n_instruments=40, start="2024-03-01", end="2025-03-31"))
    return write_demo_export(service, tmp_path_factory.mktemp("cli") / "demo_export", seed=3)


@pytest.fixture
def synced(aistock_home, export) -> Path:
    result = invoke("catalog", "sync", "--source", export)
    assert result.exit_code == 0, result.output
    return export


def test_sync_prints_counts_and_a_second_sync_is_unchanged(synced):
    result = invoke("catalog", "sync", "--source", synced)
    assert result.exit_code == 0, result.output
    assert "full" in result.output and "ok" in result.output
    factors_row = next(line for line in result.output.splitlines() if "│ factors " in line)
    assert [c.strip() for c in factors_row.strip("│").split("│")] == ["factors", "0", "0", "25", "0"]
    inc = invoke("catalog", "sync", "--source", synced, "--incremental")
    assert inc.exit_code == 0 and "incremental" in inc.output


def test_list_sort_where_and_json(synced):
    data = json.loads(invoke("catalog", "list", "loops", "--sort", "-ir", "--json").stdout)
    irs = [row["ir"] for row in data]
    assert len(data) == 5 and irs == sorted(irs, reverse=True)
    assert all(row["mdd"] <= 0 and row["mdd_wc"] <= 0 for row in data)
    factors = json.loads(invoke("catalog", "list", "factors", "-w", "source=rdagent_generated", "-w",
                                "best_sharpe>-100", "--json").stdout)
    assert {f["name"] for f in factors} == {"mom_5d", "rev_1d", "vol_ratio_10d", "volatility_20d", "range_5d"}
    table = invoke("catalog", "list", "strategies")
    assert table.exit_code == 0 and "TopkDropoutStrategy" in table.output and "000300.SH" in table.output
    models = json.loads(invoke("catalog", "list", "models", "-w", "model_class=GeneralPTNN", "--json").stdout)
    assert len(models) == 1 and models[0]["model_type"] == "DemoMLP"


def test_bad_filter_is_a_clear_error(synced):
    result = invoke("catalog", "list", "loops", "--where", "nosuch>1")
    assert result.exit_code == 2 and "no column 'nosuch'" in result.output
    result = invoke("catalog", "list", "widgets")
    assert result.exit_code == 2 and "unknown catalog" in result.output


def test_show_mark_and_unmark_a_loop(synced):
    loop = json.loads(invoke("catalog", "list", "loops", "--sort", "-ir", "--json").stdout)[0]
    key = f"{loop['task_run_id']}/{loop['loop_id']}"
    shown = invoke("catalog", "show", "loops", key)
    assert shown.exit_code == 0 and "with_cost" in shown.output and "bundle_files" in shown.output
    marked = invoke("catalog", "mark", "loop", key, "--candidate", "paper", "--note", "best IR", "--who", "qa")
    assert marked.exit_code == 0, marked.output
    listed = json.loads(invoke("catalog", "list", "loops", "-w", "candidate=paper", "--json").stdout)
    assert [(r["key"], r["note"]) for r in listed] == [(key, "best IR")]
    assert invoke("catalog", "mark", "loop", "nope/1").exit_code == 2
    assert invoke("catalog", "mark", "loop", key, "--candidate", "moon").exit_code == 2
    assert "mark removed" in invoke("catalog", "unmark", "loop", key).output
    assert json.loads(invoke("catalog", "list", "loops", "-w", "candidate=paper", "--json").stdout) == []


def test_show_factor_json(synced):
    data = json.loads(invoke("catalog", "show", "factors", "mom_5d", "--json").stdout)
    assert data["variants"][0]["best_sharpe"] is not None
    assert data["variants"][0]["input_schema"]["required_fields"] == ["close", "volume"]


@pytest.mark.clock
@pytest.mark.parametrize("now", ["2026-12-20", "2027-03-01"])  # inside the warning window; past the horizon
def test_json_stays_pure_when_the_calendar_warns(synced, set_now, now):
    set_now(now)
    for args in (["list", "loops"], ["show", "factors", "mom_5d"]):
        result = invoke("catalog", *args, "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)
        assert result.stderr.startswith("warning: trading calendar 'XSHG' ends on 2026-12-31")

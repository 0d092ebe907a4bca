"""``aistock models select`` end to end: a synced loop with an exported model, our retrain, and clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aistock_core.data.qlib_bin import write_qlib_dir
from aistock_core.demo.export import LOOPS
from aistock_core.models.config import parse_workflow
from aistock_core.models.train import train
from aistock_pipelines.cli.main import app
from tests.aistock_core.models.loop_export import alpha158_schema, patch_loop, set_strategy
from tests.aistock_core.models.test_loops import DAY, STRATEGY, research_workflow

runner = CliRunner()


@pytest.fixture(scope="module")
def prepared(demo_service, demo_export_master, tmp_path_factory):
    root = tmp_path_factory.mktemp("select")
    qlib = write_qlib_dir(demo_service, root / "cn_data", markets=("all",))
    export = Path(shutil.copytree(demo_export_master, root / "export"))
    booster = train(parse_workflow(research_workflow()), demo_service).model.booster
    last_day = demo_service.resolve_dates()[-1]
    exported = patch_loop(export, 11, last_day, LOOPS[1], research_workflow(),
                          {"model.txt": booster.model_to_string().encode()}, {"feature_schema": alpha158_schema()})
    plain = patch_loop(export, 11, last_day, LOOPS[2], research_workflow(), {}, {})
    set_strategy(export, STRATEGY)
    return {"qlib": str(qlib), "export": str(export), "exported": exported, "plain": plain}


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def _registry() -> list:
    return json.loads(invoke("models", "list", "--json").stdout)


def test_select_exported_then_retrained(prepared, aistock_home):
    assert invoke("catalog", "sync", "--source", prepared["export"]).exit_code == 0
    common = ("--date", f"{DAY:%Y-%m-%d}", "--universe", "all", "--provider-uri", prepared["qlib"])
    res = invoke("models", "select", "--loop", prepared["exported"], *common, "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["source"] == "exported" and out["model"] == "model.txt" and out["strategy"] == STRATEGY
    ranks = [c["rank"] for c in out["candidates"]]
    assert ranks == list(range(1, len(ranks) + 1)) and len(ranks) > 40
    chosen = [c for c in out["candidates"] if c["weight"] > 0]
    assert 8 <= len(chosen) <= 10 and max(c["rank"] for c in chosen) <= 12
    assert _registry() == []

    res = invoke("models", "select", "--loop", prepared["plain"], *common)
    assert res.exit_code == 2 and "error (ModelError)" in res.output and "no retrained one" in res.output
    assert len(res.output.strip().splitlines()) == 1 and _registry() == []

    res = invoke("models", "select", "--loop", prepared["plain"], *common, "--retrain", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["source"] == "retrained" and out["model"].endswith("/1")
    assert [m["versions"] for m in _registry()] == [1]
    table = invoke("models", "select", "--loop", prepared["plain"], *common, "--limit", "5")
    assert table.exit_code == 0 and "selected" in table.output


@pytest.mark.parametrize(("loop", "date", "message"), [
    ("deadbeef/1", "2025-03-31", "not in the synced catalog"),
    ("exported", "2025-03-29", "not a trading session"),
    ("exported", "2025-13-01", "is not a date"),
])
def test_bad_loop_or_date_is_one_line_and_registers_nothing(prepared, aistock_home, loop, date, message):
    assert invoke("catalog", "sync", "--source", prepared["export"]).exit_code == 0
    res = invoke("models", "select", "--loop", prepared.get(loop, loop), "--date", date, "--universe", "all",
                 "--provider-uri", prepared["qlib"], "--retrain")
    assert res.exit_code == 2 and message in res.output and len(res.output.strip().splitlines()) == 1
    assert _registry() == []

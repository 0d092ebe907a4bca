"""``aistock models`` end to end: train a Qlib workflow YAML on a Qlib dir, register, list, show, predict, promote."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from aistock_core.data.qlib_bin import write_qlib_dir
from aistock_core.data.service import DataService
from aistock_core.data.synthetic import SyntheticMarket
from aistock_pipelines.cli.main import app
from tests.aistock_core.models.workflows import workflow

runner = CliRunner()


@pytest.fixture(scope="module")
def qlib_dir(tmp_path_factory):
    market = SyntheticMarket(seed=5, n_instruments=25, start="2020-01-02", end="2021-04-30")
    return write_qlib_dir(DataService(market), tmp_path_factory.mktemp("q") / "cn_data", markets=("all",))


def test_train_register_predict_promote(qlib_dir, tmp_path, aistock_home):
    cfg = tmp_path / "workflow.yaml"
    cfg.write_text(yaml.safe_dump(workflow()))
    out = tmp_path / "run"
    res = runner.invoke(app, ["models", "train", "--config", str(cfg), "--provider-uri", str(qlib_dir),
                              "--out", str(out), "--register", "demo_lgb", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["registered_version"] == "1" and summary["run_id"]
    assert json.loads((out / "metrics.json").read_text())["run_id"] == summary["run_id"]
    pred = pd.read_parquet(out / "pred.parquet")
    assert list(pred.columns) == ["datetime", "instrument", "score"]
    assert pred["datetime"].min() == pd.Timestamp("2021-01-04") and pred["datetime"].max() == pd.Timestamp(
        "2021-03-31")

    listed = json.loads(runner.invoke(app, ["models", "list", "--json"]).stdout)
    assert listed == [{"name": "demo_lgb", "aliases": {"champion": "1"}, "versions": 1}]
    shown = json.loads(runner.invoke(app, ["models", "show", "demo_lgb", "--json"]).stdout)
    assert shown[0]["run_id"] == summary["run_id"]

    scores = tmp_path / "day.parquet"
    res = runner.invoke(app, ["models", "predict", "--model", "demo_lgb@champion", "--date", "2021-03-31",
                              "--provider-uri", str(qlib_dir), "--out", str(scores)])
    assert res.exit_code == 0, res.output
    day = pd.read_parquet(scores)
    expected = pred[pred["datetime"] == pd.Timestamp("2021-03-31")].sort_values("instrument")
    assert day["instrument"].tolist() == expected["instrument"].tolist()
    assert (day["score"].to_numpy() == expected["score"].to_numpy()).all()

    assert runner.invoke(app, ["models", "promote", "demo_lgb", "7"]).exit_code == 2


def test_bad_config_is_one_error_and_registers_nothing(qlib_dir, tmp_path, aistock_home):
    bad = workflow()
    bad["task"]["model"]["class"] = "CatBoostModel"
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump(bad))
    res = runner.invoke(app, ["models", "train", "--config", str(cfg), "--provider-uri", str(qlib_dir),
                              "--out", str(tmp_path / "o"), "--register", "x"])
    assert res.exit_code == 2 and "supported: LGBModel" in res.output
    assert json.loads(runner.invoke(app, ["models", "list", "--json"]).stdout) == []
    assert not (tmp_path / "o").exists()

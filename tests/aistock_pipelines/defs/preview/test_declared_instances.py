"""Declared instances through Dagster: the specs' preview and paper instances are created once, each trading day's
``preview_trades`` and ``paper_trades`` (through real ``paper_orders`` runs) trade them, and materialising the
same days again sends and writes nothing new."""

from __future__ import annotations

import dagster as dg
import pytest
from sqlalchemy import func, select

from aistock_core.config import get_settings
from aistock_core.db import Database
from aistock_core.db.models.execution import TradeOrder
from aistock_core.db.models.preview import PreviewAccount, PreviewStrategy, PreviewTrade
from aistock_pipelines.defs.execution.assets import paper_trades, trading_instances
from aistock_pipelines.defs.execution.resources import BrokerResource
from aistock_pipelines.defs.preview.assets import preview_instances, preview_report, preview_settlement, preview_trades
from aistock_pipelines.resources import DatabaseResource, DataServiceResource, StoreResource

DAYS = ("2024-04-01", "2024-04-02")
SPECS = """
[[backtest]]
name = "topk"
strategy = { class = "TopkDropoutStrategy", kwargs = { topk = 8, n_drop = 2 } }

[[preview]]
name = "pipeline"

[[preview]]
name = "top5"
params = { topk = 5, n_drop = 1 }

[[preview]]
name = "top5-no-fees"
capital = 500000
params = { topk = 5, n_drop = 1, fees = false }

[[paper]]
name = "paper"
capital = 1000000
"""


@pytest.fixture
def env(aistock_home, monkeypatch, tmp_path):
    specs = tmp_path / "specs.toml"
    specs.write_text(SPECS)
    monkeypatch.setenv("AISTOCK_SPECS_FILE", str(specs))
    monkeypatch.setenv("AISTOCK_SYNTHETIC_START", "2024-01-02")
    monkeypatch.setenv("AISTOCK_SYNTHETIC_END", "2024-04-30")
    monkeypatch.setenv("AISTOCK_SYNTHETIC_INSTRUMENTS", "30")
    get_settings.cache_clear()
    db = Database(get_settings().sqlalchemy_url)
    yield db
    db.dispose()


def _resources():
    return {"data": DataServiceResource(), "database": DatabaseResource(), "store": StoreResource(),
            "broker": BrokerResource()}


def _counts(db: Database) -> dict[str, int]:
    with db.session() as s:
        return {table.__tablename__: s.scalar(select(func.count()).select_from(table))
                for table in (PreviewStrategy, PreviewTrade, PreviewAccount, TradeOrder)}


def _metadata(result: dg.ExecuteInProcessResult, key: str) -> dict:
    events = [e for e in result.get_asset_materialization_events()
              if e.step_materialization_data.materialization.asset_key == dg.AssetKey(key)]
    return {k: v.value for k, v in events[-1].step_materialization_data.materialization.metadata.items()}


def _materialise(instance: dg.DagsterInstance) -> list[dg.ExecuteInProcessResult]:
    dg.materialize([preview_instances, trading_instances], instance=instance, resources=_resources())
    return [dg.materialize([preview_trades, paper_trades, preview_settlement], partition_key=day, instance=instance,
                           resources=_resources()) for day in DAYS]


def test_declared_instances_trade_every_day_once(env, aistock_home):
    with dg.instance_for_test() as instance:
        first = _materialise(instance)
        after = _counts(env)
        assert after["preview_strategy"] == 3 and after["preview_account"] == 3 * len(DAYS)
        trades = _metadata(first[0], "preview_trades")
        assert trades["instances"] == 3 and trades["filled"] > 0
        assert trades["sources"] == 2, "the two top-5 instances share one source: one computation"
        paper = _metadata(first[0], "paper_trades")
        assert paper["instances"] == 1 and paper["submitted"] > 0 and after["trade_orders"] >= paper["submitted"]
        runs = instance.get_runs(filters=dg.RunsFilter(job_name="paper_orders"))
        assert len(runs) == len(DAYS) and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs), \
            "the paper instance trades each day through a paper_orders run"

        again = _materialise(instance)
        assert _counts(env) == after, "re-running every slot writes and sends nothing new"
        assert _metadata(again[0], "preview_trades")["already_traded"] == 3
        assert _metadata(again[1], "paper_trades")["submitted"] == 0
        assert len(instance.get_runs(filters=dg.RunsFilter(job_name="paper_orders"))) == 2 * len(DAYS)

        report = dg.materialize([preview_report], instance=instance, resources=_resources())
        meta = _metadata(report, "preview_report")
        assert meta["instances"] == 3 and meta["days"] == len(DAYS)
        assert (aistock_home / "reports" / "preview.html").read_text().count("plotly") > 0


def test_the_demo_declares_the_model_the_models_box_trains():
    from aistock_core.demo.specs import DEMO_MODEL
    from aistock_pipelines.defs.models.assets import DEFAULT_RETRAIN

    assert f"{DEFAULT_RETRAIN.name}@champion" == DEMO_MODEL

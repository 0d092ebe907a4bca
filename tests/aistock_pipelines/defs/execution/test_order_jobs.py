"""paper/live order jobs in process on a small synthetic market, and the slot schedules."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from aistock_core.config import get_settings
from aistock_core.db import Database
from aistock_core.execution.instances import create_instance
from aistock_core.execution.risk import RiskPolicy
from aistock_core.execution.store import ExecutionStore
from aistock_core.strategy.sources import TargetSource, target_engine
from aistock_pipelines.defs.execution.jobs import live_orders, paper_orders
from aistock_pipelines.defs.execution.resources import BrokerResource
from aistock_pipelines.defs.execution.schedules import order_schedules
from aistock_pipelines.resources import DatabaseResource, DataServiceResource, StoreResource

SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def env(aistock_home, monkeypatch):
    monkeypatch.setenv("AISTOCK_SYNTHETIC_END", "2024-06-28")
    monkeypatch.setenv("AISTOCK_SYNTHETIC_START", "2024-01-02")
    monkeypatch.setenv("AISTOCK_SYNTHETIC_INSTRUMENTS", "40")
    get_settings.cache_clear()
    db = Database(get_settings().sqlalchemy_url)
    store = ExecutionStore(db)
    create_instance(store, RiskPolicy(), name="demo", capital=1e6)
    create_instance(store, RiskPolicy(), name="fast", capital=1e6, frequency="hourly")
    yield store
    db.dispose()


def resources():
    return {"data": DataServiceResource(), "database": DatabaseResource(), "store": StoreResource(),
            "broker": BrokerResource()}


def config(now="2024-07-01 09:36", instance="demo", op="paper_order_slot"):
    return {"ops": {op: {"config": {"instance": instance, "day": "2024-07-01", "slot": "09:35", "now": now}}}}


def test_paper_job_trades_once_per_slot(env):
    """The job buys the instance's source targets (the pipeline's strategy here); a re-run sends nothing new."""
    first = paper_orders.execute_in_process(run_config=config(), resources=resources())
    assert first.success
    out = first.output_for_node("paper_order_slot")
    settings = get_settings()
    targets = target_engine(settings, DataServiceResource().get_service(), Database(settings.sqlalchemy_url))
    names = set(targets.weights(TargetSource(), "2024-07-01").index)
    orders = env.orders("demo", "2024-07-01")
    assert out["submitted"] + out["denied"] == len(orders) and out["submitted"] > 0 and out["filled_volume"] > 0
    assert {o.symbol for o in orders} <= names and len(orders) >= len(names) - 3
    again = paper_orders.execute_in_process(run_config=config(), resources=resources())
    assert again.output_for_node("paper_order_slot")["submitted"] == 0
    assert len(env.orders("demo", "2024-07-01")) == len(orders)


def test_stale_slot_is_refused(env):
    result = paper_orders.execute_in_process(run_config=config(now="2024-07-01 11:00"), resources=resources(),
                                             raise_on_error=False)
    assert not result.success
    assert env.orders("demo", "2024-07-01") == []


def test_live_job_refuses_a_paper_instance(env):
    result = live_orders.execute_in_process(run_config=config(op="live_order_slot"), resources=resources(),
                                            raise_on_error=False)
    assert not result.success
    assert env.orders("demo", "2024-07-01") == []


def test_live_job_is_limited_to_one_run():
    assert live_orders.tags["aistock/live-orders"] == "true"
    assert live_orders.graph.node_defs[0].pool == "live_orders"


def _evaluate(name: str, when: datetime):
    schedule = next(s for s in order_schedules if s.name == name)
    with dg.build_schedule_context(scheduled_execution_time=when,
                                   resources={"database": DatabaseResource()}) as context:
        return schedule.evaluate_tick(context)


def test_schedules_request_one_run_per_instance_on_trading_days(env):
    daily = _evaluate("paper_orders_0935", datetime(2024, 7, 1, 9, 35, tzinfo=SH))
    assert sorted(r.run_key for r in daily.run_requests) == ["demo:2024-07-01:09:35", "fast:2024-07-01:09:35"]
    hourly = _evaluate("paper_orders_1035", datetime(2024, 7, 1, 10, 35, tzinfo=SH))
    assert [r.run_key for r in hourly.run_requests] == ["fast:2024-07-01:10:35"]
    weekend = _evaluate("paper_orders_0935", datetime(2024, 7, 6, 9, 35, tzinfo=SH))
    assert weekend.run_requests == [] and "not a trading day" in weekend.skip_message
    live = _evaluate("live_orders_0935", datetime(2024, 7, 1, 9, 35, tzinfo=SH))
    assert "no live instance" in live.skip_message


def test_a_failed_order_run_raises_an_alert(env):
    from aistock_pipelines.defs.execution.sensors import order_run_failed

    instance = dg.DagsterInstance.ephemeral()
    failed = paper_orders.execute_in_process(run_config=config(now="2024-07-01 11:00"), resources=resources(),
                                             instance=instance, raise_on_error=False)
    assert not failed.success
    with dg.build_run_status_sensor_context(
        sensor_name="order_run_failed", dagster_instance=instance, dagster_run=failed.dagster_run,
        dagster_event=failed.get_run_failure_event(), resources={"database": DatabaseResource()},
    ) as context:
        order_run_failed(context.for_run_failure())
    [alert] = env.events("demo", "alert")
    assert alert.rule == "run_failed" and not alert.resolved and failed.run_id in alert.message

"""The Dagster side of alerts: the run-failure sensor, the market-data watch, and a broken channel inside a run.

Alerts go to a loopback HTTP receiver through the same channel config an operator writes; the app DB is the
test's SQLite file, so de-duplication and delivery records are the real ones.
"""

from __future__ import annotations

import json
import socket
from datetime import date

import dagster as dg
import pytest

from aistock_core.alerts import AlertLedger
from aistock_core.alerts.sources import stale_data_alert
from aistock_core.calendar import xshg_calendar
from aistock_core.data.ledger import record_partition
from aistock_core.db import Database
from aistock_pipelines.defs.ops.jobs import deployment_probe
from aistock_pipelines.defs.ops.sensors import alert_on_run_failure, market_data_watch
from aistock_pipelines.resources import AlertsResource, DatabaseResource


def _hook_config(monkeypatch, url: str) -> str:
    monkeypatch.setenv("AISTOCK_ALERT_HOOK_URL", url)
    return json.dumps([{"name": "hook", "type": "webhook", "url_env": "AISTOCK_ALERT_HOOK_URL", "retries": 0,
                        "timeout_seconds": 2}])


@pytest.fixture
def app_db(aistock_home):
    db = Database(f"sqlite:///{aistock_home / 'aistock.db'}")
    yield db
    db.dispose()


@dg.op
def explode() -> None:
    raise RuntimeError("the broker refused the login")


@dg.job
def doomed() -> None:
    explode()


def test_run_failure_sensor_sends_the_job_and_the_step_error(receiver, monkeypatch, app_db):
    alerts = AlertsResource(channels=_hook_config(monkeypatch, receiver.url()))
    with dg.instance_for_test() as instance:
        result = doomed.execute_in_process(instance=instance, raise_on_error=False, tags={"dagster/partition": "x"})
        assert not result.success
        run = instance.get_run_by_id(result.run_id)
        failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
        with dg.build_run_status_sensor_context(
            sensor_name="alert_on_run_failure", dagster_instance=instance, dagster_run=run, dagster_event=failure,
            resources={"alerts": alerts},
        ) as context:
            alert_on_run_failure(context.for_run_failure())
    [request] = receiver.requests
    body = request.body
    assert body["kind"] == "run_failure" and body["key"] == "run_failure:doomed"
    assert body["fields"]["run_id"] == result.run_id and body["fields"]["partition"] == "x"
    assert "step explode: RuntimeError: the broker refused the login" in body["text"]


def test_market_data_watch_alerts_on_the_lagging_dataset_only(receiver, monkeypatch, app_db):
    # Pinned now: Monday 2026-11-16 10:00, so Friday 2026-11-13 is the day whose data must exist.
    for dataset, day in [("market_bars", date(2026, 11, 13)), ("index_bars", date(2026, 11, 11))]:
        record_partition(app_db, dataset=dataset, trade_date=day, rows=1, path="p", sha256="0" * 64, source="t")
    alerts = AlertsResource(channels=_hook_config(monkeypatch, receiver.url()))
    with dg.build_sensor_context(resources={"alerts": alerts, "database": DatabaseResource()}) as context:
        outcome = market_data_watch(context)
    assert [r.body["key"] for r in receiver.requests] == ["stale_data:index_bars:2026-11-13"]
    assert receiver.requests[0].body["fields"]["missing_sessions"] == "2"  # 11-12 and 11-13
    assert "index_bars is 2 session(s) behind" in outcome.skip_message
    # An independent count of the missing sessions, straight from the calendar.
    assert len(xshg_calendar().sessions_in_range("2026-11-12", "2026-11-13")) == 2


def test_market_data_watch_warns_when_the_calendar_runs_out(receiver, monkeypatch, app_db, set_now):
    set_now("2026-12-10 18:00")  # 21 days before exchange_calendars' XSHG horizon (2026-12-31)
    for dataset in ("market_bars", "index_bars"):
        record_partition(app_db, dataset=dataset, trade_date=date(2026, 12, 10), rows=1, path="p", sha256="0" * 64,
                         source="t")
    alerts = AlertsResource(channels=_hook_config(monkeypatch, receiver.url()))
    with dg.build_sensor_context(resources={"alerts": alerts, "database": DatabaseResource()}) as context:
        market_data_watch(context)
        market_data_watch(context)  # the next tick: same incident, de-duplicated
    assert [r.body["kind"] for r in receiver.requests] == ["calendar_horizon"]
    assert receiver.requests[0].body["fields"]["authoritative_until"] == "2026-12-31"


def test_a_broken_channel_never_breaks_a_run(monkeypatch, app_db, set_now):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    calendar = xshg_calendar()

    @dg.op
    def warn_and_continue(alerts: AlertsResource) -> int:
        alerts.send(stale_data_alert("market_bars", None, date(2026, 11, 13), calendar))
        return 1

    @dg.job
    def keeps_going() -> None:
        warn_and_continue()

    result = keeps_going.execute_in_process(
        resources={"alerts": AlertsResource(channels=_hook_config(monkeypatch, dead))})
    assert result.success
    [delivery] = AlertLedger(app_db).deliveries()
    assert (delivery.channel, delivery.status) == ("hook", "failed") and "ConnectError" in delivery.error


def test_a_bad_channel_config_is_logged_not_raised(app_db):
    @dg.op
    def warn(alerts: AlertsResource) -> None:
        assert alerts.send(stale_data_alert("market_bars", None, date(2026, 11, 13), xshg_calendar())) is None

    @dg.job
    def with_bad_config() -> None:
        warn()

    bad = AlertsResource(channels='[{"name": "h", "type": "webhook", "url_env": "AISTOCK_ALERT_UNSET"}]')
    assert with_bad_config.execute_in_process(resources={"alerts": bad}).success


def test_deployment_probe_runs_in_process(aistock_home):
    result = deployment_probe.execute_in_process(
        resources={"database": DatabaseResource()}, run_config={"ops": {f"probe_{i}": {"config": {"hold_seconds": 0}}
                                                                        for i in range(4)}})
    assert result.success
    assert result.output_for_node("probe_summary") == 1
    assert sorted(result.output_for_node(f"probe_{i}") for i in range(4)) == ["-"] * 4

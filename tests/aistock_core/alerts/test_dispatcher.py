"""De-duplication, rate limits and broken channels, with a pinned clock, on SQLite and PostgreSQL.

Separate `Database` objects stand for separate processes: what one decides, the other must see.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from aistock_core.alerts import (
    Alert,
    AlertDispatcher,
    AlertLedger,
    DeliveryStatus,
    RateLimit,
    Severity,
)
from aistock_core.alerts.channels import WebhookChannel
from aistock_core.db import Database


def _alert(key: str = "stale_data:market_bars:2026-11-13", severity: Severity = Severity.WARNING) -> Alert:
    return Alert(kind="stale_data", severity=severity, key=key, title=f"title of {key}", text="text")


def _hook(receiver, name: str = "hook", **kwargs) -> WebhookChannel:
    return WebhookChannel(name=name, url=receiver.url(f"/{name}"), retries=0, **kwargs)


@pytest.fixture
def ledger(db_url):
    db = Database(db_url)
    yield AlertLedger(db)
    db.dispose()


def test_same_key_within_the_window_is_sent_once_then_again_with_the_repeat_count(receiver, ledger, clock):
    dispatcher = AlertDispatcher([_hook(receiver)], ledger, dedup_seconds=600, clock=clock)
    first = dispatcher.dispatch(_alert())
    assert first.sent_to == ["hook"] and not first.deduplicated
    clock.advance(300)
    assert dispatcher.dispatch(_alert()).deduplicated
    clock.advance(299)
    assert dispatcher.dispatch(_alert()).deduplicated
    assert len(receiver.requests) == 1
    clock.advance(1)  # exactly 600 s after the first send: the window has passed
    again = dispatcher.dispatch(_alert())
    assert again.sent_to == ["hook"]
    assert receiver.requests[1].body["fields"] == {"repeated": "2 more time(s) since the last message"}


def test_different_keys_are_different_incidents(receiver, ledger, clock):
    dispatcher = AlertDispatcher([_hook(receiver)], ledger, dedup_seconds=600, clock=clock)
    dispatcher.dispatch(_alert("a"))
    dispatcher.dispatch(_alert("b"))
    assert [r.body["key"] for r in receiver.requests] == ["a", "b"]


def test_a_second_process_sees_the_first_ones_decision(receiver, db_url, clock):
    first, second = Database(db_url), Database(db_url)
    try:
        AlertDispatcher([_hook(receiver)], AlertLedger(first), dedup_seconds=600, clock=clock).dispatch(_alert())
        other = AlertDispatcher([_hook(receiver)], AlertLedger(second), dedup_seconds=600, clock=clock)
        assert other.dispatch(_alert()).deduplicated
        assert len(receiver.requests) == 1
    finally:
        first.dispose()
        second.dispose()


def test_concurrent_senders_of_one_incident_send_it_once(receiver, db_url, clock):
    databases = [Database(db_url) for _ in range(6)]
    barrier = threading.Barrier(len(databases))
    results = []

    def send(db: Database) -> None:
        dispatcher = AlertDispatcher([_hook(receiver)], AlertLedger(db), dedup_seconds=600, clock=clock)
        barrier.wait()
        results.append(dispatcher.dispatch(_alert()))

    threads = [threading.Thread(target=send, args=(db,)) for db in databases]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        for db in databases:
            db.dispose()
    assert len(results) == 6
    assert sum(not r.deduplicated for r in results) == 1
    assert len(receiver.requests) == 1
    with Database(db_url, migrate=False).engine.connect() as conn:
        row = conn.execute(text("select occurrences, suppressed from alert_state")).one()
    assert tuple(row) == (6, 5)


def test_rate_limit_per_channel(receiver, ledger, clock):
    tight = _hook(receiver, "tight", rate_limit=RateLimit(count=2, per_seconds=60))
    loose = _hook(receiver, "loose", rate_limit=RateLimit(count=100, per_seconds=60))
    dispatcher = AlertDispatcher([tight, loose], ledger, dedup_seconds=600, clock=clock)
    outcomes = [dispatcher.dispatch(_alert(f"k{i}")) for i in range(3)]
    assert [o.sent_to for o in outcomes] == [["tight", "loose"], ["tight", "loose"], ["loose"]]
    assert outcomes[2].deliveries[0].status is DeliveryStatus.RATE_LIMITED
    clock.advance(60)  # next window
    assert dispatcher.dispatch(_alert("k3")).sent_to == ["tight", "loose"]
    statuses = [(d.alert_key, d.channel, d.status) for d in ledger.deliveries() if d.channel == "tight"]
    assert statuses == [("k0", "tight", "sent"), ("k1", "tight", "sent"), ("k2", "tight", "rate_limited"),
                        ("k3", "tight", "sent")]


def test_rate_limit_is_shared_across_processes(receiver, db_url, clock):
    first, second = Database(db_url), Database(db_url)
    try:
        for i, db in enumerate([first, second, first]):
            channel = _hook(receiver, "tight", rate_limit=RateLimit(count=2, per_seconds=60))
            AlertDispatcher([channel], AlertLedger(db), clock=clock).dispatch(_alert(f"k{i}"))
    finally:
        first.dispose()
        second.dispose()
    assert [r.body["key"] for r in receiver.requests] == ["k0", "k1"]


def test_broken_channels_never_raise_and_are_recorded(receiver, ledger, clock, dead_port):
    from aistock_alert_test_receivers import Reply

    receiver.script = [Reply(status=500, body={})]
    broken_500 = _hook(receiver, "http500")
    refused = WebhookChannel(name="refused", url=f"http://127.0.0.1:{dead_port}/", retries=0)
    with_ok = [broken_500, refused]
    result = AlertDispatcher(with_ok, ledger, dedup_seconds=600, clock=clock).dispatch(_alert())
    assert [d.status for d in result.deliveries] == [DeliveryStatus.FAILED, DeliveryStatus.FAILED]
    errors = {d.channel: d.error for d in ledger.deliveries()}
    assert "HTTP 500" in errors["http500"] and "ConnectError" in errors["refused"]
    # It reached nobody: the next occurrence is not swallowed by de-duplication.
    receiver.script = [Reply()]
    clock.advance(10)
    retry = AlertDispatcher([_hook(receiver, "http500")], ledger, dedup_seconds=600, clock=clock).dispatch(_alert())
    assert retry.sent_to == ["http500"]


def test_one_broken_channel_does_not_stop_the_others(receiver, ledger, clock, dead_port):
    refused = WebhookChannel(name="refused", url=f"http://127.0.0.1:{dead_port}/", retries=0)
    result = AlertDispatcher([refused, _hook(receiver)], ledger, clock=clock).dispatch(_alert())
    assert result.sent_to == ["hook"]
    clock.advance(1)
    assert AlertDispatcher([_hook(receiver)], ledger, clock=clock).dispatch(_alert()).deduplicated


def test_severity_filter(receiver, ledger, clock):
    pager = _hook(receiver, "pager", min_severity=Severity.CRITICAL)
    chat = _hook(receiver, "chat")
    dispatcher = AlertDispatcher([pager, chat], ledger, clock=clock)
    assert dispatcher.dispatch(_alert("w", Severity.WARNING)).sent_to == ["chat"]
    assert dispatcher.dispatch(_alert("c", Severity.CRITICAL)).sent_to == ["pager", "chat"]


def test_an_unreachable_app_db_fails_open(receiver, tmp_path, clock):
    db = Database(f"sqlite:///{tmp_path / 'app.db'}")
    with db.engine.begin() as conn:
        conn.execute(text("drop table alert_state"))
        conn.execute(text("drop table alert_rate_windows"))
        conn.execute(text("drop table alert_deliveries"))
    result = AlertDispatcher([_hook(receiver)], AlertLedger(db), clock=clock).dispatch(_alert())
    db.dispose()
    assert result.sent_to == ["hook"] and len(receiver.requests) == 1


def test_no_ledger_and_no_channels_is_a_quiet_no_op(clock):
    result = AlertDispatcher([], None, clock=clock).dispatch(_alert())
    assert result.deliveries == () and not result.deduplicated

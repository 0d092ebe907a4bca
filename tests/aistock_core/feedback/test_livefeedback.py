"""LiveFeedback v1: built from the preview and execution tables, valid against the shipped schema, and every figure
equal to what the tables give (recomputed the independent way); bad input is one clear error."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
from sqlalchemy import select

from aistock_core.db.models.feedback import FeedbackFile
from aistock_core.db.models.preview import PreviewAccount
from aistock_core.errors import FeedbackError
from aistock_core.feedback.livefeedback import build_feedback, post_feedback, validate, write_feedback
from aistock_core.feedback.periods import make_period, roll_periods
from aistock_core.feedback.publish import publish
from aistock_core.feedback.recompute import recompute_mismatches
from tests.aistock_core.feedback.conftest import DAYS, PAPER_DAYS


def _doc(db, service, ref, start=DAYS[0], end=DAYS[-1], kind="custom"):
    return build_feedback(db, service, ref, make_period(service.calendar, start, end, kind))


def test_preview_feedback_is_valid_and_agrees_with_the_account_rows(db, service, traded):
    doc = _doc(db, service, traded["calm"])
    validate(doc)
    assert doc["env"] == "preview" and doc["period"]["sessions"] == len(DAYS)
    assert recompute_mismatches(db, service, doc) == []
    # a hand check straight from preview_account: total return and max drawdown of the settled values
    with db.session() as s:
        values = np.array(s.scalars(select(PreviewAccount.total_value).where(
            PreviewAccount.preview_id == int(traded["calm"].split("-")[1])).order_by(PreviewAccount.trading_day)).all())
    chain = np.concatenate([[1e6], values])
    assert doc["performance"]["total_return"] == pytest.approx(values[-1] / 1e6 - 1, abs=1e-12)
    assert doc["performance"]["max_drawdown"] == pytest.approx(min(0, (chain / np.maximum.accumulate(chain) - 1).min()))
    assert doc["performance"]["nav"][-1]["nav"] == pytest.approx(values[-1] / 1e6)
    assert all(v == 0 for v in doc["execution"].values())


def test_the_recompute_catches_a_wrong_figure(db, service, traded):
    doc = _doc(db, service, traded["calm"])
    for field, delta in (("sharpe", 0.01), ("turnover", 1e-3)):
        bad = copy.deepcopy(doc)
        bad["performance"][field] += delta
        assert any(m.startswith(f"performance.{field}") for m in recompute_mismatches(db, service, bad))
    bad = copy.deepcopy(doc)
    bad["performance"]["nav"][3]["nav"] *= 1.0001
    assert recompute_mismatches(db, service, bad) == [f"performance.nav[{DAYS[3]:%Y-%m-%d}]"]


def test_paper_feedback_execution_block_by_hand(db, service, paper):
    doc = _doc(db, service, paper["ref"], PAPER_DAYS[0], PAPER_DAYS[-1])
    ex = doc["execution"]
    assert doc["env"] == "paper"
    assert (ex["orders"], ex["filled_orders"], ex["risk_block_count"], ex["cancel_count"]) == (3, 2, 1, 1)
    assert ex["fill_ratio"] == pytest.approx(2500 / 3000)
    assert ex["avg_slippage_bps"] == pytest.approx((10 * 1000 - 10 * 500 + 20 * 1000) / 2500, abs=1e-6)
    assert ex["avg_fill_seconds"] == pytest.approx((90 + 300 + 60) / 3)
    assert ex["stamp_duty"] == pytest.approx(paper["stamp"])
    assert ex["commission"] == pytest.approx(paper["fees"] - paper["stamp"])
    assert [e["type"] for e in doc["events"]].count("risk_limit_hit") == 1
    assert recompute_mismatches(db, service, doc) == []


def test_bad_input_is_one_clear_error(db, service, traded):
    cal = service.calendar
    with pytest.raises(FeedbackError, match="empty period"):
        make_period(cal, "2024-04-10", "2024-04-09")
    with pytest.raises(FeedbackError, match="no trading session"):
        make_period(cal, "2024-04-04", "2024-04-07")  # Qingming + weekend
    with pytest.raises(FeedbackError, match="not one week"):
        make_period(cal, "2024-04-03", "2024-04-08", "week")
    with pytest.raises(FeedbackError, match="unknown instance 'preview-999'"):
        _doc(db, service, "preview-999")
    with pytest.raises(FeedbackError, match="unknown instance 'nobody'; known instances: preview-1, preview-2"):
        _doc(db, service, "nobody")
    with pytest.raises(FeedbackError, match="no settled account day"):
        _doc(db, service, traded["calm"], "2024-04-15", "2024-04-16")


def test_the_schema_refuses_what_the_contract_forbids(db, service, traded, tmp_path):
    doc = _doc(db, service, traded["calm"])
    for mutate, where in ((lambda d: d["performance"].update(sharpe=math.nan), "NaN"),
                          (lambda d: d["performance"].update(max_drawdown=0.1), "performance/max_drawdown"),
                          (lambda d: d.pop("events"), "events"),
                          (lambda d: d["period"].update(kind="year"), "period/kind"),
                          (lambda d: d.update(generated_at="2024-04-12T15:00:00Z"), "generated_at")):
        bad = copy.deepcopy(doc)
        mutate(bad)
        with pytest.raises(FeedbackError, match=where):
            write_feedback(bad, tmp_path / "out" / "feedback.json")
    assert not (tmp_path / "out").exists()  # nothing reached the disk


def test_rolls_close_weeks_and_months_on_their_last_session(service):
    cal = service.calendar
    assert [p.kind for p in roll_periods(cal, "2024-04-11")] == ["day"]
    week = roll_periods(cal, "2024-04-12")
    assert [p.kind for p in week] == ["day", "week"] and week[1].label == "2024-04-08_2024-04-12"
    month = roll_periods(cal, "2024-04-30")  # a Tuesday, but May 1-3 are Labour Day holidays: week and month close
    assert [p.label for p in month] == ["2024-04-30_2024-04-30", "2024-04-29_2024-04-30", "2024-04-01_2024-04-30"]
    assert len(month[2].sessions) == 20


def test_publish_writes_atomically_beside_a_request_on_breach_and_is_idempotent(db, service, traded, tmp_path,
                                                                                  monkeypatch):
    from aistock_core.config import Settings

    settings = Settings(home=tmp_path / "home", feedback_dir=tmp_path / "fb")
    period = make_period(service.calendar, DAYS[3], DAYS[-1], "week")
    tight = publish(db, service, settings, traded["tight"], period)
    assert tight.path == tmp_path / "fb" / traded["tight"] / "week" / "2024-04-08_2024-04-12.json"
    doc = json.loads(tight.path.read_text())
    validate(doc)
    assert tight.breaches[0]["constraint"] == "max_drawdown"
    assert tight.request_path == tight.path.with_name("2024-04-08_2024-04-12.request.json")
    assert json.loads(tight.request_path.read_text())["objective"]["primary_metric"] == "max_drawdown"
    assert doc["suggested_objective"]["primary_metric"] == "max_drawdown"
    again = publish(db, service, settings, traded["tight"], period)
    assert again.path.read_bytes() == tight.path.read_bytes() or json.loads(again.path.read_text())["performance"] \
        == doc["performance"]
    with db.session() as s:
        assert len(s.scalars(select(FeedbackFile)).all()) == 1
    assert not [p for p in tight.path.parent.iterdir() if p.name.startswith(".")]  # no temporary left


def test_post_retries_a_failing_receiver_then_delivers(db, service, traded, receiver):
    from tests.conftest import load_test_module

    reply = load_test_module("aistock_alert_test_receivers", "aistock_core/alerts/receivers.py").Reply
    doc = _doc(db, service, traded["calm"])
    receiver.script = [reply(status=503), reply(status=200)]
    result = post_feedback(doc, receiver.url("/feedback"), deadline=10)
    assert result.ok and result.attempts == 2
    assert receiver.requests[-1].body == json.loads(json.dumps(doc))
    receiver.script = [reply(status=422)]
    final = post_feedback(doc, receiver.url("/feedback"), deadline=10)
    assert not final.ok and final.attempts == 1 and final.detail == "HTTP 422"

"""The optimizer's estimators against hand computations, and the approval gate: nothing changes an instance without
an approval row, an approval creates a new parameter version, every older version stays readable."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from aistock_core.db.models.feedback import FeedbackDecision, FeedbackProposal, ParamVersion
from aistock_core.db.models.preview import PreviewStrategy
from aistock_core.errors import FeedbackError
from aistock_core.feedback import optimizer
from aistock_core.feedback.optimizer import Proposal, propose, with_stop
from aistock_core.feedback.proposals import decide, list_proposals, params_version, record_proposals, run_optimizer
from tests.aistock_core.feedback.conftest import DAYS

IDX = pd.bdate_range("2024-01-01", periods=12)


def test_fractional_kelly_by_hand():
    unit = np.array([0.03, -0.025, 0.02, -0.02, 0.025, -0.028, 0.01, -0.008, 0.004, 0.001, -0.012, 0.002])
    r = pd.Series(0.95 * unit, index=IDX)
    made = propose(r.to_frame("p"), {"p": {}}, {"p": 0.5})
    sizing = next(p for p in made if p.kind == "sizing")
    train = unit[:8]
    full = train.mean() / train.var(ddof=1)
    want = min(max(0.5 * full, 0.1), 0.95)
    assert 0.1 < want < 0.9  # the cap does not decide this case
    assert sizing.evidence["full_kelly"] == pytest.approx(full)
    assert sizing.changes == {"p": {"strategy.kwargs.risk_degree": round(want, 4)}}
    held = unit[8:]
    assert sizing.evidence["after"]["value"] == pytest.approx(np.log(1 + want * held).mean())
    assert sizing.evidence["held_out"] == [f"{IDX[8]:%Y-%m-%d}", f"{IDX[-1]:%Y-%m-%d}"]


def test_drawdown_stop_goes_flat_for_the_cool_down():
    r = np.array([0.01, -0.03, -0.03, 0.05, 0.05, 0.05, 0.05, 0.05, 0.02, 0.01])
    out = with_stop(r, 0.05)  # nav 1.01 → 0.9797 → 0.9503: drawdown 5.9% on day 3, flat for 5 sessions
    assert list(out) == [0.01, -0.03, -0.03, 0, 0, 0, 0, 0, 0.02, 0.01]


def test_weights_follow_mean_over_variance():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"a": 0.002 + 0.01 * rng.standard_normal(12), "b": 0.001 + 0.02 * rng.standard_normal(12)},
                         index=IDX)
    made = next(p for p in propose(frame, {"a": {}, "b": {}}, {"a": 0.1, "b": 0.1}) if p.kind == "weights")
    train = frame.iloc[:8]
    raw = train.mean().clip(lower=0) / train.var(ddof=1)
    if (train.mean() <= 0).all():
        raw = 1 / train.var(ddof=1)
    want = raw / raw.sum()
    assert made.changes["a"]["allocation"] == pytest.approx(want["a"], abs=1e-4)
    assert math.isclose(sum(c["allocation"] for c in made.changes.values()), 1.0, abs_tol=2e-4)


def test_nothing_is_applied_without_an_approval_row(db, service, traded):
    made = run_optimizer(db, service, DAYS[-1])
    again = run_optimizer(db, service, DAYS[-1])
    assert made and all(p.status == "pending" and p.evidence["held_out"] for p in made)
    assert [p.id for p in made] == [p.id for p in again]  # a re-run stores nothing new
    calm, tight = traded["calm"], traded["tight"]
    with db.session() as s:
        before = {r.id: dict(r.params or {}) for r in s.scalars(select(PreviewStrategy))}
    day = pd.Timestamp(DAYS[-2])  # not the optimizer's day: these hand proposals have keys of their own
    [prop] = record_proposals(db, day, [Proposal("sizing", calm, {calm: {"strategy.kwargs.risk_degree": 0.6}},
                                                 {"metric": "hand"})])
    with db.session() as s:
        assert s.scalars(select(ParamVersion)).all() == []
        assert {r.id: dict(r.params or {}) for r in s.scalars(select(PreviewStrategy))} == before
    # malformed decisions: one clear error, nothing written
    for args, message in (((999, "approve", "ann"), "no proposal with id 999"),
                          ((prop.id, "approve", "  "), "pass --by NAME"),
                          ((prop.id, "merge", "ann"), "unknown decision 'merge'")):
        with pytest.raises(FeedbackError, match=message):
            decide(db, *args)
    with db.session() as s:
        assert s.scalars(select(FeedbackDecision)).all() == []
    view = decide(db, prop.id, "approve", "ann", "halve the exposure")
    assert view.status == "approved"
    version, params = params_version(db, calm)
    assert version == 2 and params["strategy"]["kwargs"]["risk_degree"] == 0.6
    assert "risk_degree" not in params_version(db, calm, 1)[1]["strategy"]["kwargs"]  # v1 still reproducible
    with db.session() as s:
        row = s.get(PreviewStrategy, int(calm.split("-")[1]))
        assert row.params["strategy"]["kwargs"]["risk_degree"] == 0.6  # the instance runs v2 now
        versions = s.scalars(select(ParamVersion).where(ParamVersion.version > 1)).all()
        approved = {d.id for d in s.scalars(select(FeedbackDecision).where(FeedbackDecision.decision == "approved"))}
        assert versions and all(v.decision_id in approved for v in versions)
    with pytest.raises(FeedbackError, match="already approved"):
        decide(db, prop.id, "reject", "bob")
    [other] = record_proposals(db, day, [Proposal("risk", tight, {tight: {"limits.max_drawdown": 0.05}}, {})])
    assert decide(db, other.id, "reject", "bob", "not now").status == "rejected"
    assert params_version(db, tight) == (1, params_version(db, tight, 1)[1])
    with db.session() as s:
        assert s.scalar(select(FeedbackProposal.status).where(FeedbackProposal.id == other.id)) == "rejected"
    assert {p.id for p in list_proposals(db, "pending")} == {p.id for p in made}
    assert optimizer.get_path(params, "strategy.kwargs.topk") == 50


def test_signal_threshold_grid_by_hand():
    days = pd.bdate_range("2024-01-01", periods=9)
    names = ["a", "b", "c", "d"]
    # "a" always scores highest but loses; "b" scores second and wins: only a low threshold lets "b" in.
    scores = pd.DataFrame([[0.9, 0.5, 0.2, 0.1]] * 9, index=days, columns=names)
    ahead = pd.DataFrame([[-0.01, 0.02, 0.03, 0.01]] * 9, index=days, columns=names)
    basket = optimizer.basket_returns(scores, ahead, 0.4, 2)
    assert list(basket) == pytest.approx([0.005] * 9)  # a and b qualify: (−0.01 + 0.02) / 2
    assert list(optimizer.basket_returns(scores, ahead, 0.95, 2)) == [0.0] * 9  # nobody qualifies: cash
    train, held = days[:6], days[6:]
    made = optimizer.threshold("p", scores, ahead, 0.95, 2, train, held)
    # grid: current 0.95 and the pooled train quantiles 0.5 → 0.35, 0.75 → 0.6, 0.9 → 0.78; top-2 baskets
    # 0.35: {a, b} 0.005; 0.6: {a} −0.01; 0.78: {a} −0.01; 0.95: cash 0.0 → 0.35 wins
    assert made.changes == {"p": {"strategy.kwargs.min_score": pytest.approx(0.35)}}
    assert made.evidence["before"]["value"] == 0.0 and made.evidence["after"]["value"] == pytest.approx(0.005)


def test_the_optimizer_tunes_the_threshold_of_a_strategy_that_has_one(db, service):
    from aistock_core.preview.engine import SignalPreviewEngine
    from aistock_core.preview.instances import create_instance
    from aistock_core.preview.settle import settle
    from tests.aistock_core.feedback.conftest import rotating_targets

    block = {"class": "EnhancedTopkDropoutStrategy", "kwargs": {"topk": 5, "n_drop": 1, "min_score": 0.5}}
    inst = create_instance(db, "enh", 1e6, params={"strategy": block})
    engine = SignalPreviewEngine(db, service, rotating_targets(service, 4))
    for day in DAYS:
        engine.run(day, ids=[inst.id])
        settle(db, service, day)
    made = [p for p in run_optimizer(db, service, DAYS[-1]) if p.kind == "threshold"]
    assert len(made) == 1 and made[0].scope == f"preview-{inst.id}"
    new = made[0].changes[f"preview-{inst.id}"]["strategy.kwargs.min_score"]
    assert new != 0.5 and made[0].evidence["before"]["min_score"] == 0.5
    decide(db, made[0].id, "approve", "ann")
    assert params_version(db, f"preview-{inst.id}")[1]["strategy"]["kwargs"]["min_score"] == new

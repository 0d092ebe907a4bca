"""The evening evaluation on SQLite and PostgreSQL: executed signals scored at the close, one report row per
instance and day, a re-run overwrites instead of adding, an instance without settled days is skipped with why."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import func, select

from aistock_core.db.models.signals import PerformanceReportRow
from aistock_core.errors import SignalError
from aistock_core.feedback.analyzer import (
    analyse_day,
    evaluate_signals,
    period_signals,
    report_markdown,
    report_png,
)
from aistock_core.preview.engine import SignalPreviewEngine
from aistock_core.preview.instances import create_instance
from aistock_core.preview.settle import settle
from aistock_core.signals.daily import generate_day, sync_day
from aistock_core.signals.store import SignalStore

D1, D2 = "2024-04-01", "2024-04-02"


def test_evening_evaluation(db, service):
    stocks = [c for c in service.instruments("all") if not c.endswith(".BJ")]
    inst = create_instance(db, "eval", 1e6)
    first, second = pd.Series(0.15, index=stocks[:6]), pd.Series(0.15, index=stocks[3:9])
    SignalPreviewEngine(db, service, lambda i, d: first).run(D1, ids=[inst.id])
    settle(db, service, D1)
    generate_day(db, service, D2, second, pd.Series(range(len(stocks)), index=stocks, dtype=float))
    SignalPreviewEngine(db, service, lambda i, d: second).run(D2, ids=[inst.id])
    settle(db, service, D2)
    idle = create_instance(db, "idle", 1e6)  # created after the close: no settled day yet
    sync_day(db, service, D2, final=True)
    scored = evaluate_signals(db, service, D2)
    frame = SignalStore(db).frame(D2, f"preview-{inst.id}")
    done = frame[frame["state"] == "executed"]
    assert scored == len(done) > 0 and done["evaluation_score"].between(0, 100).all()
    close = service.get_panel(list(done["symbol"]), start=D2, end=D2, fields=["close"], adjust=None)
    last = pd.Series(close["close"][0], index=close.instruments)
    sign = done["direction"].map({"buy": 1.0, "sell": -1.0}).to_numpy()
    expect = sign * (last.reindex(done["symbol"]).to_numpy() / done["executed_price"].to_numpy() - 1)
    assert done["actual_return"].to_numpy() == pytest.approx(expect)

    reports, skipped = analyse_day(db, service, D2, window=5)
    assert [r["instance"] for r in reports] == [f"preview-{inst.id}"]
    assert len(skipped) == 1 and skipped[0].startswith(f"preview-{idle.id}: ")
    assert "no settled account day" in skipped[0]
    report = reports[0]
    assert report["performance"]["sessions"] == 2 and report["signals"]["executed"] == len(done)
    assert report["expectation"]["divergence"].startswith("no expectation")
    with db.session() as s:
        row = s.scalar(select(PerformanceReportRow))
        first_figures = row.figures
    analyse_day(db, service, D2, window=5)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(PerformanceReportRow)) == 1
        assert s.scalar(select(PerformanceReportRow)).figures == first_figures
    assert f"preview-{inst.id} (eval)" in report_markdown(reports)
    assert report_png(reports, "t")[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluation_refuses_a_closed_day(db, service):
    with pytest.raises(SignalError, match="2024-04-04 is not an XSHG session"):
        analyse_day(db, service, "2024-04-04")


def test_the_livefeedback_signals_block_counts_the_lifecycle(db, service):
    stocks = [c for c in service.instruments("all") if not c.endswith(".BJ")]
    inst = create_instance(db, "block", 1e6)
    targets = pd.Series(0.15, index=stocks[:6])
    generate_day(db, service, D1, targets, pd.Series(0.0, index=stocks))
    SignalPreviewEngine(db, service, lambda i, d: targets[:4]).run(D1)  # two names never become orders
    sync_day(db, service, D1, final=True)
    frame = SignalStore(db).frame(D1)
    block = period_signals(db, f"preview-{inst.id}", D1, D2)
    assert block["generated"] == len(frame) == 6
    assert block["validated"] == 6 and block["expired"] == 2
    assert block["executed"] + block["rejected"] == 4 == (frame["state"].isin(["executed", "rejected"])).sum()
    assert period_signals(db, f"preview-{inst.id}", D2, D2)["generated"] == 0

"""Migration 0101: signals stored under the old ``preview:<id>`` / ``trade:<name>`` ids take the one spelling
``preview-<id>`` / ``trade-<name>``, and the downgrade writes the old spelling back."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from alembic import command
from sqlalchemy import select

from aistock_core.db import Database
from aistock_core.db.models.signals import PerformanceReportRow, SignalTransition, TradingSignal

DAY = date(2024, 4, 2)


@pytest.fixture
def db(db_url):
    database = Database(db_url)
    yield database
    database.dispose()


def _alembic(db: Database, action, target: str) -> None:
    with db.engine.begin() as conn:
        cfg = db.alembic_config()
        cfg.attributes["connection"] = conn
        action(cfg, target)


def _signal(ref: str, order_id: str | None) -> TradingSignal:
    return TradingSignal(signal_key=f"{ref}|20240402|09:35|600000.SH|buy", instance=ref, env="preview",
                         trading_day=DAY, slot="09:35", symbol="600000.SH", direction="buy", signal_type="entry",
                         source="target_positions", state="executed", order_id=order_id)


def _stored(db: Database) -> dict[str, list]:
    with db.session() as s:
        return {"signals": s.execute(select(TradingSignal.instance, TradingSignal.signal_key, TradingSignal.order_id)
                                     .order_by(TradingSignal.instance)).all(),
                "transitions": sorted(s.scalars(select(SignalTransition.signal_key)).all()),
                "reports": s.execute(select(PerformanceReportRow.instance, PerformanceReportRow.figures)
                                     .order_by(PerformanceReportRow.instance)).all()}


def _expected(sep: str) -> dict[str, list]:
    preview, trade = f"preview{sep}3", f"trade{sep}alpha"
    return {"signals": [(preview, f"{preview}|20240402|09:35|600000.SH|buy", f"{preview}|20240402|09:35|600000.SH|buy"),
                        (trade, f"{trade}|20240402|09:35|600000.SH|buy", "alpha|20240402|0935|600000.SH|buy")],
            "transitions": sorted([f"{preview}|20240402|09:35|600000.SH|buy", f"{trade}|20240402|09:35|600000.SH|buy"]),
            "reports": [(preview, {"instance": preview, "name": "a:b"}), (trade, {"instance": trade, "name": "a:b"})]}


def test_upgrade_respells_old_ids_and_downgrade_restores_them(db):
    _alembic(db, command.downgrade, "0014_signals")
    old = _expected(":")
    with db.session() as s:
        for ref, _, order_id in old["signals"]:
            s.add(_signal(ref, order_id))
        s.add_all(SignalTransition(signal_key=key, from_state=None, to_state="generated", cause="made",
                                   at=datetime(2024, 4, 2, 9, 35)) for key in old["transitions"])
        s.add_all(PerformanceReportRow(instance=ref, trading_day=DAY, env="preview", sessions=1, verdict="ok",
                                       figures=figures) for ref, figures in old["reports"])
    assert _stored(db) == old

    db.migrate()
    assert _stored(db) == _expected("-")  # a trading instance's broker order id is left as it was

    _alembic(db, command.downgrade, "0014_signals")
    assert _stored(db) == old

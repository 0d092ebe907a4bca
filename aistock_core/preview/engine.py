"""`SignalPreviewEngine`: a session's virtual trades for running instances, at the decision time's live prices.

One snapshot from the data service covers every symbol any instance holds or targets (one quote request per
slot, not per instance); a symbol the snapshot does not list at all (the quote source did not answer; a suspended
name is listed, flagged) stops the run before anything is written. Each instance is then rebalanced by
`fills.rebalance` and written in its own transaction under a row lock. A slot (``HH:MM``) trades once per
instance and day: if ``preview_trade`` already holds rows of that slot, the instance is skipped, so re-running a
trade changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from aistock_core.data.service import DataService
from aistock_core.db import Database
from aistock_core.db.models.preview import PreviewStrategy, PreviewTrade
from aistock_core.db.upsert import upsert
from aistock_core.errors import AistockError, PreviewError
from aistock_core.preview.book import day_of, load_books, lock_instances, open_day, running_ids, save_book
from aistock_core.preview.fills import rebalance
from aistock_core.preview.instances import PreviewInstance, get_instance
from aistock_core.trading.fees import AshareFees

#: Where target weights come from: ``(instance, session) → weights by symbol`` (fractions of total value, summing
#: to at most 1); `aistock_core.strategy.sources.TargetEngine` in production.
Targets = Callable[[PreviewInstance, pd.Timestamp], pd.Series]
#: Default decision time: five minutes after the open, when the opening auction's prices have settled.
DEFAULT_SLOT = "09:35"


@dataclass
class TradeSummary:
    """What one engine run did: per instance ``filled`` / ``unfilled`` counts, or why it was skipped."""

    day: pd.Timestamp
    slot: str
    instances: dict[int, dict[str, int]] = field(default_factory=dict)
    skipped: dict[int, str] = field(default_factory=dict)


def decision_time(day: pd.Timestamp, slot: str) -> pd.Timestamp:
    """The naive Shanghai moment of ``slot`` on ``day``; must fall inside a session."""
    try:
        stamp = day_of(day) + pd.Timedelta(hours=int(slot[:2]), minutes=int(slot[3:5]))
    except (ValueError, IndexError):
        raise PreviewError(f"decision time {slot!r} is not HH:MM") from None
    minutes = stamp.hour * 60 + stamp.minute
    if len(slot) != 5 or not (570 <= minutes <= 690 or 780 <= minutes <= 900):
        raise PreviewError(f"decision time {slot!r} is outside the sessions 09:30-11:30 and 13:00-15:00")
    return stamp


class SignalPreviewEngine:
    """Turns target weights into virtual fills for running instances; fees follow the instance's
    ``params["fees"]`` switch (default on: the standard A-share schedule of `trading.fees`)."""

    def __init__(self, db: Database, service: DataService, targets: Targets) -> None:
        self.db, self.service, self.targets = db, service, targets

    def run(self, day, slot: str = DEFAULT_SLOT, ids: list[int] | None = None) -> TradeSummary:
        day = day_of(day)
        if not self.service.calendar.is_session(day):
            raise PreviewError(f"{day:%Y-%m-%d} is not an XSHG session; previews trade on trading days only")
        at = decision_time(day, slot)
        with self.db.session() as session:
            if ids is None:
                ids = running_ids(session)
            done = self._done(session, day, slot, ids)
        instances = [get_instance(self.db, i) for i in ids]
        stopped = [f"{i.id} ({i.name}) is {i.status}" for i in instances if i.status != "running"]
        if stopped:
            raise PreviewError(f"preview {'; '.join(stopped)}: only running instances trade")
        summary = TradeSummary(day, slot)
        todo = [i for i in instances if i.id not in done]
        summary.skipped.update({i: f"slot {slot} of {day:%Y-%m-%d} already traded" for i in done})
        if not todo:
            return summary
        weights = {}
        for instance in todo:  # one instance whose source cannot be served must not stop the others
            try:
                weights[instance.id] = self.targets(instance, day)
            except AistockError as exc:
                summary.skipped[instance.id] = f"no targets: {exc}"
        todo = [i for i in todo if i.id in weights]
        if not todo:
            return summary
        with self.db.session() as session:  # a missing quote rolls the day's opening back: nothing changes
            open_day(session, self.service, day, [i.id for i in todo])
            held = {i: set(book.symbols) for i, book in load_books(session, day, [i.id for i in todo]).items()}
            symbols = sorted(set().union(*held.values(), *(set(w.index) for w in weights.values())))
            quote = self.service.get_realtime_snapshot(symbols, at=at) if symbols else pd.DataFrame(columns=["close"])
            missing = [s for s in symbols if s not in quote.index]
            if missing:
                raise PreviewError(f"no quote at {at:%Y-%m-%d %H:%M} for {len(missing)} symbol(s) "
                                   f"({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}); nothing traded, "
                                   f"run the slot again when the quote source answers")
        for instance in todo:
            summary.instances[instance.id] = self._trade_one(instance, day, slot, at, weights[instance.id], quote)
        return summary

    @staticmethod
    def _done(session: Session, day: pd.Timestamp, slot: str, ids: list[int]) -> set[int]:
        """Instances that already hold rows of this slot (traded before: a re-run must change nothing)."""
        return set(session.scalars(select(PreviewTrade.preview_id).distinct().where(
            PreviewTrade.trading_day == day.date(), PreviewTrade.slot == slot, PreviewTrade.preview_id.in_(ids))))

    def _trade_one(self, instance: PreviewInstance, day: pd.Timestamp, slot: str, at: pd.Timestamp,
                   weights: pd.Series, quote: pd.DataFrame) -> dict[str, int]:
        fees = AshareFees() if instance.params.get("fees", True) else AshareFees.zero()
        with self.db.session() as session:
            lock_instances(session, [instance.id])
            status = session.scalar(select(PreviewStrategy.status).where(PreviewStrategy.id == instance.id))
            if status != "running" or self._done(session, day, slot, [instance.id]):
                return {"filled": 0, "unfilled": 0}
            book = load_books(session, day, [instance.id])[instance.id]
            result = rebalance(book, weights, quote, day, fees)
            stamp: datetime = at.to_pydatetime()
            trades = result.trades.assign(preview_id=instance.id, trading_day=day.date(), datetime=stamp, slot=slot)
            upsert(session, PreviewTrade, trades, update=())
            save_book(session, instance.id, day, result.book, result.fees, stamp)
            orders = trades["side"].isin(["buy", "sell"])
            return {"filled": int((orders & (trades["status"] == "filled")).sum()),
                    "unfilled": int((trades["status"] == "unfilled").sum())}

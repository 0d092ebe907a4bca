"""De-duplication and rate limiting kept in the app DB, so every process that sends alerts agrees.

Both decisions are one conditional ``UPDATE`` whose row count says who won: on PostgreSQL the row lock, on
SQLite the database write lock, serialise concurrent senders, so two processes that see the same incident at
the same moment send it once, and a channel's limit holds across processes. Rate limits count in fixed windows
(``window_start`` = the UTC epoch second rounded down to the window): a burst across a window boundary can
reach twice the count, the price of a decision that needs no lock held across the send.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from aistock_core.alerts.model import Alert, Delivery
from aistock_core.db import Database
from aistock_core.db.models.alerts import AlertDelivery, AlertRateWindow, AlertState
from aistock_core.db.upsert import upsert

#: Rate-limit windows older than this are deleted when a channel opens a new one.
WINDOW_RETENTION_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class Claim:
    """Whether this process should send the alert, and how often it recurred unsent since the last send."""

    send: bool
    suppressed_since_last: int
    previous_sent_at: datetime | None


class AlertLedger:
    """The DB side of the dispatcher. ``now`` arguments are naive UTC datetimes."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def claim(self, alert: Alert, now: datetime, window_seconds: int) -> Claim:
        """Record an occurrence of ``alert.key``; ``send`` is True for the first one in ``window_seconds``."""
        cutoff = now - timedelta(seconds=window_seconds)
        with self.db.session() as session:
            upsert(session, AlertState, [{
                "key": alert.key, "kind": alert.kind, "severity": alert.severity.value, "title": alert.title,
                "first_seen_at": now, "last_seen_at": now, "last_sent_at": None, "occurrences": 0, "suppressed": 0,
            }], update=())
            previous = session.execute(select(AlertState.last_sent_at).where(AlertState.key == alert.key)).scalar()
            won = session.execute(
                update(AlertState)
                .where(AlertState.key == alert.key)
                .where((AlertState.last_sent_at.is_(None)) | (AlertState.last_sent_at <= cutoff))
                .values(last_sent_at=now, last_seen_at=now, occurrences=AlertState.occurrences + 1,
                        severity=alert.severity.value, title=alert.title)
            ).rowcount == 1
            if not won:
                session.execute(update(AlertState).where(AlertState.key == alert.key).values(
                    last_seen_at=now, occurrences=AlertState.occurrences + 1, suppressed=AlertState.suppressed + 1))
                return Claim(False, 0, previous)
            # We hold the row (write) lock now: read and reset the count of occurrences that were not sent.
            suppressed = session.execute(select(AlertState.suppressed).where(AlertState.key == alert.key)).scalar()
            session.execute(update(AlertState).where(AlertState.key == alert.key).values(suppressed=0))
            return Claim(True, int(suppressed or 0), previous)

    def release(self, alert: Alert, claimed_at: datetime, previous_sent_at: datetime | None) -> None:
        """Undo a claim whose alert reached no channel, so the next occurrence tries again."""
        with self.db.session() as session:
            session.execute(update(AlertState)
                            .where(AlertState.key == alert.key, AlertState.last_sent_at == claimed_at)
                            .values(last_sent_at=previous_sent_at))

    def take_slot(self, channel: str, now: datetime, count: int, per_seconds: int) -> bool:
        """Count one message on ``channel`` in the current window; False when the window is full."""
        epoch = int((now - datetime(1970, 1, 1)).total_seconds())
        window = epoch - epoch % per_seconds
        with self.db.session() as session:
            upsert(session, AlertRateWindow, [{"channel": channel, "window_start": window, "sent": 0}], update=())
            session.execute(delete(AlertRateWindow).where(
                AlertRateWindow.channel == channel, AlertRateWindow.window_start < window - WINDOW_RETENTION_SECONDS))
            return session.execute(
                update(AlertRateWindow)
                .where(AlertRateWindow.channel == channel, AlertRateWindow.window_start == window,
                       AlertRateWindow.sent < count)
                .values(sent=AlertRateWindow.sent + 1)
            ).rowcount == 1

    def record(self, alert: Alert, delivery: Delivery, now: datetime) -> None:
        with self.db.session() as session:
            session.add(AlertDelivery(alert_key=alert.key, kind=alert.kind, severity=alert.severity.value,
                                      channel=delivery.channel, status=delivery.status.value,
                                      error=delivery.error, attempted_at=now))

    def deliveries(self, key: str | None = None) -> list[AlertDelivery]:
        """Delivery records, oldest first (all, or one alert key's)."""
        query = select(AlertDelivery).order_by(AlertDelivery.id)
        if key is not None:
            query = query.where(AlertDelivery.alert_key == key)
        with self.db.session() as session:
            return list(session.execute(query).scalars())

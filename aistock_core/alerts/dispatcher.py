"""`AlertDispatcher`: de-duplicate, rate-limit, send to every channel that accepts the alert, record the outcome.

Alerting must never be the thing that breaks a run: `dispatch` catches every failure (a refused connection, a
bot's error code, an unreachable app DB) and turns it into a log line and a ``failed`` delivery record. When the
app DB itself is unreachable the alert is sent anyway (an outage is exactly when alerts matter): de-duplication
fails open.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from aistock_core.alerts.channels import Channel
from aistock_core.alerts.config import load_channels
from aistock_core.alerts.model import Alert, Delivery, DeliveryStatus, DispatchResult, Severity
from aistock_core.alerts.state import AlertLedger, Claim
from aistock_core.config import Settings
from aistock_core.db import Database

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    """Naive UTC wall time: de-duplication and rate limits are about real time, not the pinned exchange clock."""
    return datetime.now(UTC).replace(tzinfo=None)


class AlertDispatcher:
    """Send alerts through ``channels``; ``ledger`` (the app DB) shares dedup and rate limits across processes.

    ``clock`` returns naive UTC (tests pin it); ``dedup_seconds`` is the window in which one key is sent once.
    """

    def __init__(self, channels: Sequence[Channel], ledger: AlertLedger | None, *, dedup_seconds: int = 3600,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self.channels = list(channels)
        self.ledger = ledger
        self.dedup_seconds = dedup_seconds
        self.clock = clock

    def _claim(self, alert: Alert, now: datetime) -> Claim:
        if self.ledger is None:
            return Claim(True, 0, None)
        try:
            return self.ledger.claim(alert, now, self.dedup_seconds)
        except Exception:  # the app DB is down: send without de-duplication rather than stay silent
            log.exception("alert %s: de-duplication state unavailable; sending without it", alert.key)
            return Claim(True, 0, None)

    def _slot(self, channel: Channel, now: datetime) -> bool:
        if self.ledger is None:
            return True
        try:
            return self.ledger.take_slot(channel.name, now, channel.rate_limit.count, channel.rate_limit.per_seconds)
        except Exception:
            log.exception("alert channel %s: rate-limit state unavailable; sending without it", channel.name)
            return True

    def _record(self, alert: Alert, delivery: Delivery, now: datetime) -> None:
        if self.ledger is None:
            return
        try:
            self.ledger.record(alert, delivery, now)
        except Exception:
            log.exception("alert %s: could not record the %s delivery on %s", alert.key, delivery.status.value,
                          delivery.channel)

    def _deliver(self, channel: Channel, alert: Alert, now: datetime) -> Delivery:
        if not self._slot(channel, now):
            log.warning("alert %s not sent on %s: rate limit of %d per %ds reached", alert.key, channel.name,
                        channel.rate_limit.count, channel.rate_limit.per_seconds)
            return Delivery(channel.name, DeliveryStatus.RATE_LIMITED)
        try:
            channel.send(alert)
        except Exception as exc:  # a broken channel must never raise into the run that raised the alert
            log.warning("alert %s not delivered on %s: %s", alert.key, channel.name, exc)
            return Delivery(channel.name, DeliveryStatus.FAILED, f"{type(exc).__name__}: {exc}"[:2000])
        return Delivery(channel.name, DeliveryStatus.SENT)

    def dispatch(self, alert: Alert) -> DispatchResult:
        """Send ``alert`` unless its key was sent within the window; never raises."""
        try:
            return self._dispatch(alert)
        except Exception:  # a bug of ours must not break the caller either
            log.exception("alert %s: dispatch failed", alert.key)
            return DispatchResult(alert, deduplicated=False)

    def _dispatch(self, alert: Alert) -> DispatchResult:
        now = self.clock()
        log.log(logging.ERROR if alert.severity is Severity.CRITICAL else logging.WARNING, "alert %s: %s", alert.key,
                alert.title)
        claim = self._claim(alert, now)
        if not claim.send:
            return DispatchResult(alert, deduplicated=True)
        if claim.suppressed_since_last:
            alert = alert.with_fields(repeated=f"{claim.suppressed_since_last} more time(s) since the last message")
        deliveries = []
        for channel in self.channels:
            if not channel.accepts(alert):
                continue
            delivery = self._deliver(channel, alert, now)
            self._record(alert, delivery, now)
            deliveries.append(delivery)
        if deliveries and not any(d.status is DeliveryStatus.SENT for d in deliveries) and self.ledger is not None:
            try:  # reached nobody: let the next occurrence try again instead of waiting out the window
                self.ledger.release(alert, now, claim.previous_sent_at)
            except Exception:
                log.exception("alert %s: could not release the de-duplication claim", alert.key)
        return DispatchResult(alert, deduplicated=False, deliveries=tuple(deliveries))


def dispatcher_from_settings(settings: Settings, db: Database | None = None) -> AlertDispatcher:
    """The dispatcher the operator configured: ``AISTOCK_ALERT_CHANNELS``, ``AISTOCK_ALERT_DEDUP_SECONDS`` and the
    app DB (``db``, default: opened from ``AISTOCK_DATABASE_URL``). A bad channel config raises `ConfigError`
    here, when the process starts, not later inside a failing run."""
    channels = load_channels(settings.alert_channels)
    db = db or Database(settings.sqlalchemy_url)
    return AlertDispatcher(channels, AlertLedger(db), dedup_seconds=settings.alert_dedup_seconds)

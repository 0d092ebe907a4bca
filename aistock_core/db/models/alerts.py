"""Alert bookkeeping shared by every process that sends alerts (webserver, daemon, run workers, cron).

``alert_state``: one row per incident key (when it was last sent, how often it recurred since);
``alert_rate_windows``: per channel, messages sent in each fixed rate-limit window;
``alert_deliveries``: one row per attempt on a channel (sent, failed with the error, or rate limited).
Timestamps are naive UTC (both dialects compare them the same way).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from aistock_core.db.base import Base


class AlertState(Base):
    __tablename__ = "alert_state"

    key: Mapped[str] = mapped_column(String(256), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text)
    first_seen_at: Mapped[datetime] = mapped_column(DateTime())
    last_seen_at: Mapped[datetime] = mapped_column(DateTime())
    last_sent_at: Mapped[datetime | None] = mapped_column(DateTime())
    occurrences: Mapped[int] = mapped_column(Integer)
    suppressed: Mapped[int] = mapped_column(Integer)


class AlertRateWindow(Base):
    __tablename__ = "alert_rate_windows"
    __table_args__ = (UniqueConstraint("channel", "window_start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(128))
    window_start: Mapped[int] = mapped_column(BigInteger)
    sent: Mapped[int] = mapped_column(Integer)


class AlertDelivery(Base):
    __tablename__ = "alert_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_key: Mapped[str] = mapped_column(String(256), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    attempted_at: Mapped[datetime] = mapped_column(DateTime(), index=True)

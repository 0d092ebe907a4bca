"""What an alert is, and what became of sending it.

An `Alert` is plain data built by the functions of `aistock_core.alerts.sources` from what they observed; the
`AlertDispatcher` decides whether and where it goes. ``key`` is what de-duplication compares: two alerts with
the same key inside the window are the same incident (the second is counted, not sent).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum


class Severity(StrEnum):
    """Ordered: a channel with ``min_severity: warning`` gets warnings and criticals."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


@dataclass(frozen=True)
class Alert:
    """One incident to tell a human about.

    ``kind`` names the source (``run_failure``, ``stale_data``...), ``key`` identifies the incident for
    de-duplication (e.g. ``stale_data:market_bars``), ``fields`` are short name → value facts that every channel
    renders as a list (and the generic webhook sends as a JSON object).
    """

    kind: str
    severity: Severity
    key: str
    title: str
    text: str
    fields: dict[str, str] = field(default_factory=dict)

    def with_fields(self, **extra: str) -> Alert:
        return replace(self, fields={**self.fields, **extra})

    def as_markdown(self) -> str:
        """Title, text and fields as Markdown (DingTalk, WeCom; the e-mail body uses `as_text`)."""
        lines = [f"### [{self.severity.value.upper()}] {self.title}", "", self.text]
        if self.fields:
            lines += ["", *(f"- **{name}**: {value}" for name, value in self.fields.items())]
        return "\n".join(lines)

    def as_text(self) -> str:
        lines = [f"[{self.severity.value.upper()}] {self.title}", "", self.text]
        if self.fields:
            lines += ["", *(f"{name}: {value}" for name, value in self.fields.items())]
        return "\n".join(lines)

    def as_json(self) -> dict[str, object]:
        return {"source": "aistock", "kind": self.kind, "severity": self.severity.value, "key": self.key,
                "title": self.title, "text": self.text, "fields": dict(self.fields)}


class DeliveryStatus(StrEnum):
    SENT = "sent"
    FAILED = "failed"
    RATE_LIMITED = "rate_limited"


@dataclass(frozen=True)
class Delivery:
    """What happened to one alert on one channel (also a row of ``alert_deliveries``)."""

    channel: str
    status: DeliveryStatus
    error: str | None = None


@dataclass(frozen=True)
class DispatchResult:
    """The outcome of `AlertDispatcher.dispatch`: ``deduplicated`` when the key was sent within the window."""

    alert: Alert
    deduplicated: bool
    deliveries: tuple[Delivery, ...] = ()

    @property
    def sent_to(self) -> list[str]:
        return [d.channel for d in self.deliveries if d.status is DeliveryStatus.SENT]

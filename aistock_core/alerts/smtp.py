"""E-mail alerts over SMTP (standard library `smtplib`): plain SMTP, STARTTLS, or implicit TLS (port 465)."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage

from aistock_core.alerts.channels import AlertChannelError, Channel
from aistock_core.alerts.model import Alert


@dataclass
class SmtpChannel(Channel):
    """Send each alert as one plain-text e-mail to ``recipients``.

    ``security``: ``starttls`` (upgrade after connecting; the usual port 587), ``tls`` (implicit TLS, port
    465) or ``none`` (a relay on a trusted network). Login only when a ``username`` is given; the password comes
    from the environment (see `aistock_core.alerts.config`).
    """

    host: str = "localhost"
    port: int = 587
    security: str = "starttls"
    username: str | None = None
    password: str | None = None
    sender: str = "aistock@localhost"
    recipients: list[str] = field(default_factory=list)
    timeout_seconds: float = 10.0

    def message(self, alert: Alert) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = f"[aistock {alert.severity.value}] {alert.title}"
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg["X-Aistock-Alert-Key"] = alert.key
        msg.set_content(alert.as_text())
        return msg

    def send(self, alert: Alert) -> None:
        if not self.recipients:
            raise AlertChannelError(f"channel {self.name!r}: no recipients configured")
        try:
            if self.security == "tls":
                client: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_seconds,
                                                        context=ssl.create_default_context())
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout_seconds)
            with client:
                if self.security == "starttls":
                    client.starttls(context=ssl.create_default_context())
                if self.username:
                    client.login(self.username, self.password or "")
                client.send_message(self.message(alert))
        except (OSError, smtplib.SMTPException) as exc:  # refused, timed out, TLS or auth failure, rejected rcpt
            raise AlertChannelError(f"channel {self.name!r}: SMTP {self.host}:{self.port}: "
                                    f"{type(exc).__name__}: {exc}") from exc

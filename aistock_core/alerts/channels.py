"""HTTP alert channels: a generic JSON webhook and the DingTalk, WeCom and Feishu group-bot webhooks.

Each bot gets the message shape its platform documents (DingTalk and WeCom: ``msgtype: markdown``; Feishu:
``msg_type: text``) and, where the operator gave a signing secret, the platform's signature (DingTalk: query
parameters ``timestamp`` (ms) and ``sign``; Feishu: body fields ``timestamp`` (s) and ``sign``). The bots answer
HTTP 200 even when they refuse a message, with an error code in the body; that code is checked too, so a
revoked token is a failed delivery rather than a silent one.

A send retries connection errors, timeouts, HTTP 429 and 5xx (``retries`` more times, ``backoff_seconds``
doubling); anything else fails at once. Failures raise `AlertChannelError`; the dispatcher catches it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote_plus

import httpx

from aistock_core.alerts.model import Alert, Severity
from aistock_core.errors import AistockError

#: Bytes of Markdown a bot accepts (WeCom's documented limit is 4096; DingTalk's and Feishu's are larger).
BOT_TEXT_LIMIT = 4000


class AlertChannelError(AistockError):
    """A channel could not deliver an alert (names the channel and what the far end said)."""


@dataclass(frozen=True)
class RateLimit:
    """At most ``count`` messages per ``per_seconds`` on one channel, shared by every process using the app DB."""

    count: int = 20
    per_seconds: int = 60


@dataclass
class Channel:
    """Where alerts go. Subclasses implement `send`; ``name`` keys rate limits and delivery records."""

    name: str
    min_severity: Severity = Severity.INFO
    rate_limit: RateLimit = field(default_factory=RateLimit)

    def accepts(self, alert: Alert) -> bool:
        return alert.severity.rank >= self.min_severity.rank

    def send(self, alert: Alert) -> None:
        raise NotImplementedError


def _truncate(text: str, limit: int = BOT_TEXT_LIMIT) -> str:
    raw = text.encode()
    if len(raw) <= limit:
        return text
    return raw[: limit - 20].decode(errors="ignore") + "\n…(truncated)"


@dataclass
class WebhookChannel(Channel):
    """A generic webhook: POST `Alert.as_json` to ``url``; any 2xx is success."""

    url: str = ""
    timeout_seconds: float = 5.0
    retries: int = 2
    backoff_seconds: float = 0.5
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def payload(self, alert: Alert) -> dict:
        return alert.as_json()

    def request_url(self) -> str:
        return self.url

    def check_answer(self, response: httpx.Response) -> None:
        """Raise `AlertChannelError` if the far end refused the message although HTTP said 2xx."""

    def send(self, alert: Alert) -> None:
        body = self.payload(alert)
        last_error = "not attempted"
        for attempt in range(self.retries + 1):
            if attempt:
                self.sleep(self.backoff_seconds * 2 ** (attempt - 1))
            try:
                response = httpx.post(self.request_url(), json=body, timeout=self.timeout_seconds)
            except httpx.HTTPError as exc:  # refused, reset, timed out: worth another try
                last_error = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code == 429 or response.status_code >= 500:
                last_error = f"HTTP {response.status_code}: {response.text[:200]}"
                continue
            if not response.is_success:
                raise AlertChannelError(f"channel {self.name!r}: HTTP {response.status_code}: {response.text[:200]}")
            self.check_answer(response)
            return
        raise AlertChannelError(f"channel {self.name!r}: gave up after {self.retries + 1} attempt(s): {last_error}")


def _error_code(response: httpx.Response, code_field: str, message_field: str) -> tuple[int, str] | None:
    try:
        answer = response.json()
    except ValueError:
        return None
    if isinstance(answer, dict) and answer.get(code_field) not in (None, 0):
        return answer[code_field], str(answer.get(message_field, ""))
    return None


@dataclass
class DingTalkChannel(WebhookChannel):
    """DingTalk group bot (``https://oapi.dingtalk.com/robot/send?access_token=…``), optional "加签" secret."""

    secret: str | None = None
    clock_ms: Callable[[], int] = field(default=lambda: int(time.time() * 1000), repr=False)

    def payload(self, alert: Alert) -> dict:
        return {"msgtype": "markdown", "markdown": {"title": alert.title, "text": _truncate(alert.as_markdown())}}

    def request_url(self) -> str:
        if not self.secret:
            return self.url
        timestamp = str(self.clock_ms())
        digest = hmac.new(self.secret.encode(), f"{timestamp}\n{self.secret}".encode(), hashlib.sha256).digest()
        separator = "&" if "?" in self.url else "?"
        return f"{self.url}{separator}timestamp={timestamp}&sign={quote_plus(base64.b64encode(digest).decode())}"

    def check_answer(self, response: httpx.Response) -> None:
        if (error := _error_code(response, "errcode", "errmsg")) is not None:
            raise AlertChannelError(f"channel {self.name!r}: DingTalk refused the message: {error[0]} {error[1]}")


@dataclass
class WeComChannel(WebhookChannel):
    """WeCom (企业微信) group bot (``https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…``)."""

    def payload(self, alert: Alert) -> dict:
        return {"msgtype": "markdown", "markdown": {"content": _truncate(alert.as_markdown())}}

    def check_answer(self, response: httpx.Response) -> None:
        if (error := _error_code(response, "errcode", "errmsg")) is not None:
            raise AlertChannelError(f"channel {self.name!r}: WeCom refused the message: {error[0]} {error[1]}")


@dataclass
class FeishuChannel(WebhookChannel):
    """Feishu/Lark custom bot (``https://open.feishu.cn/open-apis/bot/v2/hook/…``), optional signing secret."""

    secret: str | None = None
    clock_s: Callable[[], int] = field(default=lambda: int(time.time()), repr=False)

    def payload(self, alert: Alert) -> dict:
        body: dict = {"msg_type": "text", "content": {"text": _truncate(alert.as_text())}}
        if self.secret:
            timestamp = str(self.clock_s())
            # Feishu signs with the "timestamp\nsecret" string as the HMAC key and an empty message.
            digest = hmac.new(f"{timestamp}\n{self.secret}".encode(), b"", hashlib.sha256).digest()
            body.update(timestamp=timestamp, sign=base64.b64encode(digest).decode())
        return body

    def check_answer(self, response: httpx.Response) -> None:
        if (error := _error_code(response, "code", "msg")) is not None:
            raise AlertChannelError(f"channel {self.name!r}: Feishu refused the message: {error[0]} {error[1]}")

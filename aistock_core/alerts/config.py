"""The operator's channel list (``AISTOCK_ALERT_CHANNELS``): a YAML or JSON file, or an inline JSON list.

```yaml
- name: ops-dingtalk
  type: dingtalk                      # webhook | dingtalk | wecom | feishu | smtp
  url_env: AISTOCK_ALERT_DINGTALK_URL # the webhook URL carries the bot's token: environment only
  secret_env: AISTOCK_ALERT_DINGTALK_SECRET   # optional signing secret (DingTalk "加签", Feishu)
  min_severity: warning
  rate_limit: {count: 20, per_seconds: 60}
- name: oncall-mail
  type: smtp
  host: smtp.example.com
  port: 587
  security: starttls                  # starttls | tls | none
  username: alerts@example.com
  password_env: AISTOCK_ALERT_SMTP_PASSWORD
  sender: alerts@example.com
  recipients: [ops@example.com]
```

Secrets are never written in the file: it names the environment variables that hold them (``*_env``), read
through `aistock_core.config.env_secret`. Every problem (unknown type, missing variable, duplicate name) is a
`ConfigError` naming the channel, found when the config is loaded rather than when the first alert fires.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from aistock_core.alerts.channels import (
    Channel,
    DingTalkChannel,
    FeishuChannel,
    RateLimit,
    WebhookChannel,
    WeComChannel,
)
from aistock_core.alerts.model import Severity
from aistock_core.alerts.smtp import SmtpChannel
from aistock_core.config import env_secret
from aistock_core.errors import ConfigError


class _RateLimitSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int = Field(default=20, ge=1)
    per_seconds: int = Field(default=60, ge=1)


class _ChannelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    min_severity: Severity = Severity.INFO
    rate_limit: _RateLimitSpec = Field(default_factory=_RateLimitSpec)

    def common(self) -> dict:
        return {"name": self.name, "min_severity": self.min_severity,
                "rate_limit": RateLimit(self.rate_limit.count, self.rate_limit.per_seconds)}


class _HttpSpec(_ChannelSpec):
    url_env: str
    timeout_seconds: float = Field(default=5.0, gt=0)
    retries: int = Field(default=2, ge=0, le=10)
    backoff_seconds: float = Field(default=0.5, ge=0)

    def http(self) -> dict:
        return {**self.common(), "url": env_secret(self.url_env), "timeout_seconds": self.timeout_seconds,
                "retries": self.retries, "backoff_seconds": self.backoff_seconds}


class _WebhookSpec(_HttpSpec):
    type: Literal["webhook"]

    def build(self) -> Channel:
        return WebhookChannel(**self.http())


class _WeComSpec(_HttpSpec):
    type: Literal["wecom"]

    def build(self) -> Channel:
        return WeComChannel(**self.http())


class _SignedBotSpec(_HttpSpec):
    secret_env: str | None = None

    def secret(self) -> str | None:
        return env_secret(self.secret_env) if self.secret_env else None


class _DingTalkSpec(_SignedBotSpec):
    type: Literal["dingtalk"]

    def build(self) -> Channel:
        return DingTalkChannel(**self.http(), secret=self.secret())


class _FeishuSpec(_SignedBotSpec):
    type: Literal["feishu"]

    def build(self) -> Channel:
        return FeishuChannel(**self.http(), secret=self.secret())


class _SmtpSpec(_ChannelSpec):
    type: Literal["smtp"]
    host: str
    port: int = 587
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password_env: str | None = None
    sender: str
    recipients: list[str] = Field(min_length=1)
    timeout_seconds: float = Field(default=10.0, gt=0)

    def build(self) -> Channel:
        return SmtpChannel(**self.common(), host=self.host, port=self.port, security=self.security,
                           username=self.username,
                           password=env_secret(self.password_env) if self.password_env else None,
                           sender=self.sender, recipients=list(self.recipients), timeout_seconds=self.timeout_seconds)


_Spec = Annotated[_WebhookSpec | _DingTalkSpec | _WeComSpec | _FeishuSpec | _SmtpSpec, Field(discriminator="type")]
_SPECS = TypeAdapter(list[_Spec])


def _raw_config(value: str) -> object:
    text = value.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"AISTOCK_ALERT_CHANNELS is not a valid JSON list: {exc}") from exc
    path = Path(text).expanduser()
    if not path.is_file():
        raise ConfigError(f"AISTOCK_ALERT_CHANNELS names {str(path)!r}, which is not a file; give a YAML/JSON file "
                          f"path or an inline JSON list")
    try:
        return yaml.safe_load(path.read_text())  # JSON is YAML too
    except yaml.YAMLError as exc:
        raise ConfigError(f"alert channel file {str(path)!r} is not valid YAML/JSON: {exc}") from exc


def load_channels(value: str | None) -> list[Channel]:
    """The channels ``value`` (the setting's text) describes; ``None``/empty: no channels (alerts are only logged
    and recorded)."""
    if value is None or not value.strip():
        return []
    raw = _raw_config(value)
    if raw is None:
        return []
    try:
        specs = _SPECS.validate_python(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"alert channel config is invalid: {problems}") from exc
    names = [spec.name for spec in specs]
    if duplicates := sorted({n for n in names if names.count(n) > 1}):
        raise ConfigError(f"alert channel names must be unique (they key rate limits); repeated: {duplicates}")
    return [spec.build() for spec in specs]

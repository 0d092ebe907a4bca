"""``AISTOCK_ALERT_CHANNELS``: a YAML/JSON file or an inline JSON list; secrets only from the environment."""

from __future__ import annotations

import json

import pytest

from aistock_core.alerts import Severity, dispatcher_from_settings, load_channels
from aistock_core.alerts.channels import DingTalkChannel, FeishuChannel, WebhookChannel, WeComChannel
from aistock_core.alerts.smtp import SmtpChannel
from aistock_core.config import get_settings
from aistock_core.errors import ConfigError

YAML = """
- name: ops-dingtalk
  type: dingtalk
  url_env: AISTOCK_ALERT_DINGTALK_URL
  secret_env: AISTOCK_ALERT_DINGTALK_SECRET
  min_severity: warning
  rate_limit: {count: 5, per_seconds: 30}
- {name: wecom, type: wecom, url_env: AISTOCK_ALERT_WECOM_URL}
- {name: feishu, type: feishu, url_env: AISTOCK_ALERT_FEISHU_URL}
- {name: hook, type: webhook, url_env: AISTOCK_ALERT_HOOK_URL, retries: 0, timeout_seconds: 1.5}
- name: mail
  type: smtp
  host: smtp.example.com
  username: alerts@example.com
  password_env: AISTOCK_ALERT_SMTP_PASSWORD
  sender: alerts@example.com
  recipients: [ops@example.com]
"""


@pytest.fixture
def secrets(monkeypatch):
    values = {"AISTOCK_ALERT_DINGTALK_URL": "https://oapi.dingtalk.com/robot/send?access_token=t",
              "AISTOCK_ALERT_DINGTALK_SECRET": "SECx", "AISTOCK_ALERT_WECOM_URL": "https://qyapi.example/w",
              "AISTOCK_ALERT_FEISHU_URL": "https://open.feishu.example/f", "AISTOCK_ALERT_HOOK_URL": "http://h/x",
              "AISTOCK_ALERT_SMTP_PASSWORD": "pw"}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def test_yaml_file_builds_every_channel_with_secrets_from_the_environment(tmp_path, secrets):
    path = tmp_path / "alerts.yaml"
    path.write_text(YAML)
    ding, wecom, feishu, hook, mail = load_channels(str(path))
    assert isinstance(ding, DingTalkChannel) and ding.url == secrets["AISTOCK_ALERT_DINGTALK_URL"]
    assert ding.secret == "SECx" and ding.min_severity is Severity.WARNING
    assert (ding.rate_limit.count, ding.rate_limit.per_seconds) == (5, 30)
    assert isinstance(wecom, WeComChannel) and isinstance(feishu, FeishuChannel) and feishu.secret is None
    assert isinstance(hook, WebhookChannel) and (hook.retries, hook.timeout_seconds) == (0, 1.5)
    assert isinstance(mail, SmtpChannel) and mail.password == "pw" and mail.security == "starttls"
    assert mail.port == 587


def test_inline_json_list(secrets):
    [hook] = load_channels(json.dumps([{"name": "h", "type": "webhook", "url_env": "AISTOCK_ALERT_HOOK_URL"}]))
    assert hook.url == "http://h/x"


def test_unset_means_no_channels():
    assert load_channels(None) == [] and load_channels("  ") == []


@pytest.mark.parametrize(("config", "message"), [
    ('[{"name": "h", "type": "webhook", "url_env": "AISTOCK_ALERT_MISSING"}]', "AISTOCK_ALERT_MISSING is not set"),
    ('[{"name": "h", "type": "webhook", "url_env": "HOME"}]', "'HOME' must start with AISTOCK_"),
    ('[{"name": "h", "type": "pager", "url_env": "AISTOCK_ALERT_HOOK_URL"}]', "0: Input tag 'pager'"),
    ('[{"name": "h", "type": "webhook", "url": "http://x"}]', "url_env: Field required"),
    ('[{"name": "h", "type": "webhook", "url_env": "AISTOCK_ALERT_HOOK_URL"},'
     ' {"name": "h", "type": "wecom", "url_env": "AISTOCK_ALERT_HOOK_URL"}]', "repeated: ['h']"),
    ("[not json", "not a valid JSON list"),
    ("/nonexistent/alerts.yaml", "which is not a file"),
])
def test_bad_configs_name_the_problem(config, message, secrets):
    with pytest.raises(ConfigError, match=None) as info:
        load_channels(config)
    assert message in str(info.value)


def test_dispatcher_from_settings(secrets, monkeypatch, aistock_home):
    config = [{"name": "h", "type": "webhook", "url_env": "AISTOCK_ALERT_HOOK_URL"}]
    monkeypatch.setenv("AISTOCK_ALERT_CHANNELS", json.dumps(config))
    monkeypatch.setenv("AISTOCK_ALERT_DEDUP_SECONDS", "120")
    get_settings.cache_clear()
    dispatcher = dispatcher_from_settings(get_settings())
    assert [c.name for c in dispatcher.channels] == ["h"] and dispatcher.dedup_seconds == 120
    assert dispatcher.ledger is not None and (aistock_home / "aistock.db").exists()
    dispatcher.ledger.db.dispose()

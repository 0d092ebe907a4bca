"""Each channel against a loopback receiver: the platform's message shape, its signature (recomputed here from the
platform's documented recipe), its error codes, retries, timeouts and refused connections."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest

from aistock_core.alerts.channels import (
    AlertChannelError,
    DingTalkChannel,
    FeishuChannel,
    WebhookChannel,
    WeComChannel,
)
from aistock_core.alerts.model import Alert, Severity
from aistock_core.alerts.smtp import SmtpChannel

ALERT = Alert(kind="stale_data", severity=Severity.WARNING, key="stale_data:market_bars:2026-11-13",
              title="market_bars is 1 session(s) behind", text="The latest market_bars day is 2026-11-12.",
              fields={"dataset": "market_bars", "expected": "2026-11-13"})


def _reply(**kwargs):
    from aistock_alert_test_receivers import Reply  # registered by the root conftest (receiver fixture)

    return Reply(**kwargs)


def test_generic_webhook_posts_the_alert_as_json(receiver):
    WebhookChannel(name="hook", url=receiver.url("/alerts")).send(ALERT)
    [request] = receiver.requests
    assert request.path == "/alerts"
    assert request.headers["content-type"] == "application/json"
    assert request.body == {"source": "aistock", "kind": "stale_data", "severity": "warning",
                            "key": "stale_data:market_bars:2026-11-13", "title": ALERT.title, "text": ALERT.text,
                            "fields": {"dataset": "market_bars", "expected": "2026-11-13"}}


def test_dingtalk_markdown_without_secret_has_no_signature(receiver):
    DingTalkChannel(name="ding", url=receiver.url("/robot/send?access_token=tok")).send(ALERT)
    [request] = receiver.requests
    assert request.query == {"access_token": "tok"}
    assert set(request.body) == {"msgtype", "markdown"} and request.body["msgtype"] == "markdown"
    assert set(request.body["markdown"]) == {"title", "text"}
    assert request.body["markdown"]["title"] == ALERT.title
    assert "**expected**: 2026-11-13" in request.body["markdown"]["text"]


def test_dingtalk_signature_matches_the_documented_recipe(receiver):
    secret = "SEC0123456789abcdef+/="
    DingTalkChannel(name="ding", url=receiver.url("/robot/send?access_token=tok"), secret=secret,
                    clock_ms=lambda: 1763258400123).send(ALERT)
    [request] = receiver.requests
    assert request.query["access_token"] == "tok" and request.query["timestamp"] == "1763258400123"
    # DingTalk: base64(HmacSHA256(key=secret, msg="timestamp\nsecret")), URL-encoded in the query string.
    expected = base64.b64encode(hmac.new(secret.encode(), b"1763258400123\n" + secret.encode(),
                                         hashlib.sha256).digest()).decode()
    assert request.query["sign"] == expected


def test_dingtalk_error_code_in_a_200_answer_is_a_failure(receiver):
    receiver.script = [_reply(body={"errcode": 310000, "errmsg": "sign not match"})]
    with pytest.raises(AlertChannelError, match="310000 sign not match"):
        DingTalkChannel(name="ding", url=receiver.url()).send(ALERT)


def test_wecom_markdown_content_is_capped_at_its_4096_byte_limit(receiver):
    long = Alert(kind="run_failure", severity=Severity.CRITICAL, key="k", title="长", text="失败" * 3000)
    WeComChannel(name="wecom", url=receiver.url("/cgi-bin/webhook/send?key=abc")).send(long)
    [request] = receiver.requests
    assert set(request.body) == {"msgtype", "markdown"} and request.body["msgtype"] == "markdown"
    content = request.body["markdown"]["content"]
    assert set(request.body["markdown"]) == {"content"}
    assert len(content.encode()) <= 4096 and content.endswith("(truncated)")


def test_wecom_error_code_is_a_failure(receiver):
    receiver.script = [_reply(body={"errcode": 93000, "errmsg": "invalid webhook url"})]
    with pytest.raises(AlertChannelError, match="WeCom refused the message: 93000"):
        WeComChannel(name="wecom", url=receiver.url()).send(ALERT)


def test_feishu_text_with_signature_in_the_body(receiver):
    receiver.script = [_reply(body={"code": 0, "msg": "success"})]
    secret = "feishu-secret"
    FeishuChannel(name="feishu", url=receiver.url("/open-apis/bot/v2/hook/x"), secret=secret,
                  clock_s=lambda: 1763258400).send(ALERT)
    [request] = receiver.requests
    body = request.body
    assert body["msg_type"] == "text" and set(body["content"]) == {"text"}
    assert body["content"]["text"].startswith("[WARNING] market_bars is 1 session(s) behind")
    assert body["timestamp"] == "1763258400"
    # Feishu: base64(HmacSHA256(key="timestamp\nsecret", msg="")).
    key = f"{body['timestamp']}\n{secret}".encode()
    assert body["sign"] == base64.b64encode(hmac.new(key, digestmod=hashlib.sha256).digest()).decode()


def test_feishu_without_secret_sends_no_signature_and_checks_its_code(receiver):
    receiver.script = [_reply(body={"code": 0, "msg": "success"}), _reply(body={"code": 19021, "msg": "sign fail"})]
    channel = FeishuChannel(name="feishu", url=receiver.url())
    channel.send(ALERT)
    assert set(receiver.requests[0].body) == {"msg_type", "content"}
    with pytest.raises(AlertChannelError, match="19021 sign fail"):
        channel.send(ALERT)


def test_server_errors_are_retried_with_backoff_then_succeed(receiver):
    receiver.script = [_reply(status=500, body={}), _reply(status=429, body={}), _reply()]
    waits: list[float] = []
    WebhookChannel(name="hook", url=receiver.url(), retries=2, backoff_seconds=0.25, sleep=waits.append).send(ALERT)
    assert len(receiver.requests) == 3
    assert waits == [0.25, 0.5]


def test_a_client_error_is_not_retried(receiver):
    receiver.script = [_reply(status=404, body={"error": "no such hook"})]
    with pytest.raises(AlertChannelError, match="HTTP 404"):
        WebhookChannel(name="hook", url=receiver.url(), retries=3, sleep=lambda _s: None).send(ALERT)
    assert len(receiver.requests) == 1


def test_refused_connection_gives_up_after_the_retries(dead_port):
    with pytest.raises(AlertChannelError, match=r"gave up after 3 attempt\(s\): ConnectError"):
        WebhookChannel(name="hook", url=f"http://127.0.0.1:{dead_port}/x", retries=2,
                       sleep=lambda _s: None).send(ALERT)


def test_a_hanging_receiver_times_out(receiver):
    receiver.script = [_reply(delay_s=2.0)]
    started = time.monotonic()
    with pytest.raises(AlertChannelError, match="ReadTimeout"):
        WebhookChannel(name="hook", url=receiver.url(), timeout_seconds=0.2, retries=0).send(ALERT)
    assert time.monotonic() - started < 1.5


def test_smtp_plain_delivers_one_mail(smtp_server):
    port, sink = smtp_server
    SmtpChannel(name="mail", host="127.0.0.1", port=port, security="none", sender="aistock@example.com",
                recipients=["ops@example.com", "risk@example.com"]).send(ALERT)
    [(mail_from, rcpt, message)] = sink.messages
    assert mail_from == "aistock@example.com" and rcpt == ["ops@example.com", "risk@example.com"]
    assert message["Subject"] == "[aistock warning] market_bars is 1 session(s) behind"
    assert message["X-Aistock-Alert-Key"] == ALERT.key
    assert "expected: 2026-11-13" in message.get_payload()


def test_smtp_starttls_with_login(starttls_smtp_server):
    port, sink = starttls_smtp_server
    SmtpChannel(name="mail", host="127.0.0.1", port=port, security="starttls", username="alerts",
                password="s3cret", sender="a@example.com", recipients=["ops@example.com"]).send(ALERT)
    assert sink.logins == [("alerts", "s3cret")]
    assert len(sink.messages) == 1


def test_smtp_wrong_password_and_missing_starttls_are_channel_errors(starttls_smtp_server):
    port, sink = starttls_smtp_server
    with pytest.raises(AlertChannelError, match="SMTPAuthenticationError"):
        SmtpChannel(name="mail", host="127.0.0.1", port=port, username="alerts", password="wrong",
                    sender="a@example.com", recipients=["ops@example.com"]).send(ALERT)
    with pytest.raises(AlertChannelError, match="SMTP"):  # the server requires STARTTLS before MAIL
        SmtpChannel(name="mail", host="127.0.0.1", port=port, security="none", sender="a@example.com",
                    recipients=["ops@example.com"]).send(ALERT)
    assert sink.messages == []


def test_smtp_refused_connection(dead_port):
    with pytest.raises(AlertChannelError, match="ConnectionRefusedError"):
        SmtpChannel(name="mail", host="127.0.0.1", port=dead_port, security="none", sender="a@example.com",
                    recipients=["ops@example.com"], timeout_seconds=2).send(ALERT)

"""Fixtures for the alert tests: loopback HTTP and SMTP receivers, a dead port, a pinned UTC clock."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
from datetime import datetime, timedelta
from email import message_from_bytes

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def dead_port() -> int:
    """A loopback port nothing listens on (connection refused)."""
    return free_port()


class PinnedClock:
    """Naive-UTC clock the tests move by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> PinnedClock:
    return PinnedClock(datetime(2026, 11, 16, 2, 0, 0))


class SmtpSink:
    """What the aiosmtpd handler received: (envelope sender, recipients, parsed message), and the logins."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], object]] = []
        self.logins: list[tuple[str, str]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 OK"


def _self_signed(tmp_path) -> tuple[str, str]:
    tool = shutil.which("openssl")
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail("openssl not installed (needed to make the STARTTLS test certificate)")
        pytest.skip("openssl not installed (needed to make the STARTTLS test certificate)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([tool, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return str(cert), str(key)


@pytest.fixture
def smtp_server():
    """A plain SMTP server on a free loopback port: yields (port, sink)."""
    from aiosmtpd.controller import Controller

    sink = SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port, sink
    finally:
        controller.stop()


@pytest.fixture
def starttls_smtp_server(tmp_path, monkeypatch):
    """An SMTP server that requires STARTTLS and AUTH (user ``alerts``, password ``s3cret``); the test process
    trusts its self-signed certificate through SSL_CERT_FILE. Yields (port, sink)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    cert, key = _self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", cert)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    sink = SmtpSink()

    def authenticate(server, session, envelope, mechanism, auth_data):
        login = (auth_data.login.decode(), auth_data.password.decode())
        sink.logins.append(login)
        # handled=False: let aiosmtpd answer "535 credentials invalid" itself.
        return AuthResult(success=login == ("alerts", "s3cret"), handled=False)

    controller = Controller(sink, hostname="127.0.0.1", port=free_port(), tls_context=context, require_starttls=True,
                            authenticator=authenticate, auth_require_tls=True)
    controller.start()
    try:
        yield controller.port, sink
    finally:
        controller.stop()

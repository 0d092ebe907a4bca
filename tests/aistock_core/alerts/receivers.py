"""Loopback receivers the alert tests send to: a threaded HTTP server and an aiosmtpd SMTP server.

The HTTP receiver records every request (path, query, headers, body) and answers with a scripted list of
responses (status, JSON body, delay), so one test can play a bot that errors, then recovers, or hangs.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Captured:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: dict


@dataclass
class Reply:
    status: int = 200
    body: dict = field(default_factory=lambda: {"errcode": 0, "errmsg": "ok"})
    delay_s: float = 0.0


class HttpReceiver:
    """``receiver.url(path)`` to post to; ``receiver.requests`` what arrived; ``receiver.script`` the replies
    (consumed in order; the last one repeats)."""

    def __init__(self) -> None:
        self.requests: list[Captured] = []
        self.script: list[Reply] = [Reply()]
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                parts = urlsplit(self.path)
                owner.requests.append(Captured(
                    path=parts.path, query={k: v[0] for k, v in parse_qs(parts.query).items()},
                    headers={k.lower(): v for k, v in self.headers.items()}, body=json.loads(raw or b"{}")))
                reply = owner.script.pop(0) if len(owner.script) > 1 else owner.script[0]
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                payload = json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    pass

            def log_message(self, *_args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def __enter__(self) -> HttpReceiver:
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.server.shutdown()
        self.server.server_close()

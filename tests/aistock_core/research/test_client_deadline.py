"""The HTTP timeout bounds the whole request, and a deadline the whole sync (issue 15, finding 4).

Real servers on 127.0.0.1: one trickles a valid-looking answer one byte a second (every socket read succeeds,
so a per-read timeout never fires), one accepts the connection and never answers.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from aistock_core.errors import CatalogError
from aistock_core.research.client import HttpSource

ANSWER = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{"factors": []}' + b" " * 25


class SlowServer:
    """A TCP server on a loopback port: ``mode`` "trickle" sends `ANSWER` a byte per ``interval``; "silent" reads
    the request and sends nothing."""

    def __init__(self, mode: str, interval: float = 1.0) -> None:
        self.mode, self.interval = mode, interval
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                for byte in ANSWER if self.mode == "trickle" else b"":
                    if self.stop.wait(self.interval):
                        return
                    conn.sendall(bytes([byte]))
                self.stop.wait()
            except OSError:
                return

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


@pytest.fixture(params=["trickle", "silent"])
def slow(request) -> Iterator[SlowServer]:
    server = SlowServer(request.param)
    yield server
    server.close()


def test_a_slow_server_is_bounded_by_the_timeout_per_request(slow):
    began = time.monotonic()
    # 1.5 s > the 1 s between bytes, so a per-read timeout alone would wait out the whole trickle (~80 s)
    with HttpSource(slow.url, timeout=1.5, retries=1, backoff=0.1) as src, pytest.raises(CatalogError) as err:
        src.catalog("factors")
    elapsed = time.monotonic() - began
    assert elapsed < 5.0, elapsed  # 2 attempts × 1.5 s + backoff, whatever the server does
    assert "timed out" in str(err.value) and "1.5 s" in str(err.value) and "--timeout" in str(err.value)


def test_the_sync_deadline_bounds_all_requests_together(slow):
    began = time.monotonic()
    with (HttpSource(slow.url, timeout=30.0, deadline=1.5, retries=5, backoff=0.1) as src,
          pytest.raises(CatalogError) as err):
        src.catalog("factors")
    elapsed = time.monotonic() - began
    assert elapsed < 4.0, elapsed
    assert "deadline of 1.5 s" in str(err.value) and "--deadline" in str(err.value)


def test_a_trickled_answer_inside_the_timeout_is_read_whole():
    server = SlowServer("trickle", interval=0.002)
    try:
        with HttpSource(server.url, timeout=5.0, retries=0) as src:
            assert src.catalog("factors") == {"factors": []}
    finally:
        server.close()

"""The readiness wait and the free ports that the demo, the benchmarks and the tests share."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from logpipe_testkit import readiness
from logpipe_testkit.ports import free_port, free_ports


class Daemonish:
    """A /readyz that answers 503 until ``ready`` is set, then 200."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status = 200 if outer.ready.is_set() else 503
                body = b"ok\n" if status == 200 else b"not ready\n"
                self.send_response(status if self.path == "/readyz" else 404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]


@pytest.fixture
def daemon() -> Iterator[Daemonish]:
    d = Daemonish()
    thread = threading.Thread(target=d.server.serve_forever, daemon=True)
    thread.start()
    yield d
    d.server.shutdown()
    d.server.server_close()


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = free_ports(5)
    assert len(set(ports)) == 5
    assert 0 < free_port() < 65536


def test_statuses_as_answered(daemon: Daemonish) -> None:
    assert readiness.readyz(daemon.port) == 503
    assert readiness.http_get(f"http://127.0.0.1:{daemon.port}/readyz") == (503, b"not ready\n")
    daemon.ready.set()
    assert readiness.readyz(daemon.port) == 200
    assert readiness.http_status(f"http://127.0.0.1:{daemon.port}/other") == 404
    assert readiness.readyz(free_port()) == 0, "nothing listening"


def test_waits_through_503_until_200(daemon: Daemonish) -> None:
    threading.Timer(0.5, daemon.ready.set).start()
    started = time.monotonic()
    readiness.wait_ready(daemon.port, timeout=10)
    assert 0.4 < time.monotonic() - started < 5


def test_gives_up_after_the_timeout_with_the_details(daemon: Daemonish) -> None:
    with pytest.raises(readiness.NotReady, match=r"poller not ready after 1 s:\nlast words"):
        readiness.wait_ready(daemon.port, timeout=1, name="poller", details=lambda: "last words")


def test_a_daemon_that_exited_fails_at_once(daemon: Daemonish) -> None:
    started = time.monotonic()
    with pytest.raises(readiness.NotReady, match=r"^poller exited$"):
        readiness.wait_ready(daemon.port, timeout=30, name="poller", alive=lambda: False)
    assert time.monotonic() - started < 1

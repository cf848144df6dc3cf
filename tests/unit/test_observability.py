"""The health server: its bind address, and a check that raises is said in the log."""

from __future__ import annotations

import logging
import socket
import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry

from logpipe.observability import HealthServer


def status(port: int, path: str, host: str = "127.0.0.1") -> int:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_check_that_raises_fails_the_probe_and_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken() -> bool:
        raise AttributeError("'KafkaConsumer' object has no attribute '_client'")

    server = HealthServer(
        0, live=lambda: True, ready=broken, registry=CollectorRegistry(), host="127.0.0.1"
    ).start()
    try:
        with caplog.at_level(logging.ERROR, logger="logpipe"):
            assert [status(server.port, "/readyz") for _ in range(3)] == [503, 503, 503]
            assert status(server.port, "/healthz") == 200
    finally:
        server.stop()
    said = [r for r in caplog.records if "health check /readyz raised" in r.getMessage()]
    assert len(said) == 1
    assert said[0].exc_info is not None and "_client" in str(said[0].exc_info[1])


def test_the_server_listens_on_the_address_given() -> None:
    server = HealthServer(0, lambda: True, lambda: True, CollectorRegistry(), host="127.0.0.1")
    server.start()
    try:
        assert server._server.server_address[0] == "127.0.0.1"
        assert status(server.port, "/healthz") == 200
    finally:
        server.stop()


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6 on this host")
def test_an_ipv6_address_is_served() -> None:
    try:
        server = HealthServer(0, lambda: True, lambda: True, CollectorRegistry(), host="::1")
    except OSError as exc:  # the kernel has IPv6 off
        pytest.skip(str(exc))
    server.start()
    try:
        assert status(server.port, "/healthz", "[::1]") == 200
    finally:
        server.stop()

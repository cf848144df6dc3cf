"""logs2kafka tail on a path that matches no file: a warning, ``logs2kafka_files_followed``
0 and /readyz 503 while Kafka answers; all three change once the file exists."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from logpipe_testkit.ports import free_port
from logpipe_testkit.readiness import http_get
from tests.support.forwarder import Daemon, make_topic, tail_args

pytestmark = pytest.mark.integration


def followed(port: int) -> float | None:
    status, body = http_get(f"http://127.0.0.1:{port}/metrics")
    for line in body.decode().splitlines():
        if status == 200 and line.startswith("logs2kafka_files_followed "):
            return float(line.split()[1])
    return None


def wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_nothing_followed_is_not_ready(tmp_path: Path, kafka_bootstrap: str, unique_name) -> None:
    topic = make_topic(kafka_bootstrap, unique_name("unmatched"))
    port = free_port()
    log = tmp_path / "acess.log"  # mistyped: nothing there yet
    args = tail_args(topic, kafka_bootstrap, tmp_path / "state", log, metrics_port=str(port))
    daemon = Daemon(args, tmp_path / "daemon.log").start()
    try:
        # Kafka answers: only the files are missing
        assert wait(lambda: '"shipping"' in daemon.log_text(), 30), daemon.log_text()
        # the start-up line says the combined format's compiled encoder is in use
        assert re.search(r'"compiled_encoder":\s*true', daemon.log_text()), daemon.log_text()
        assert wait(lambda: followed(port) == 0.0, 5), daemon.log_text()
        assert http_get(f"http://127.0.0.1:{port}/readyz")[0] == 503
        assert http_get(f"http://127.0.0.1:{port}/healthz")[0] == 200
        assert f"path {log} matches no file" in daemon.log_text()
        log.write_bytes(b"")
        assert wait(lambda: followed(port) == 1.0, 10), daemon.log_text()
        assert http_get(f"http://127.0.0.1:{port}/readyz")[0] == 200
        assert f"path {log} matches a file now" in daemon.log_text()
    finally:
        assert daemon.stop() == 0, daemon.log_text()

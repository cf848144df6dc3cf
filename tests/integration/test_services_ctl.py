"""services/ctl runs a second, separate pair on other ports and folders, and `down` leaves
no JVM of that pair behind. The shared pair on the default ports is never touched."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def _free_ports(count: int) -> list[int]:
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


@pytest.fixture
def second_pair(tmp_path: Path, services_ctl):
    kafka, controller, cql, storage, ssl_storage = _free_ports(5)
    env = {
        **os.environ,
        "LOGPIPE_SERVICES_DIR": str(tmp_path / "run"),
        "LOGPIPE_KAFKA_PORT": str(kafka),
        "LOGPIPE_KAFKA_CONTROLLER_PORT": str(controller),
        "LOGPIPE_CASSANDRA_PORT": str(cql),
        "LOGPIPE_CASSANDRA_STORAGE_PORT": str(storage),
        "LOGPIPE_CASSANDRA_SSL_STORAGE_PORT": str(ssl_storage),
    }
    yield env
    services_ctl("down", env=env)  # whatever happened above, leave nothing running


def test_second_pair_starts_reports_and_stops_completely(second_pair, local_services, services_ctl):
    env = second_pair
    run_ctl = services_ctl
    shared_before = run_ctl("status")

    started_at = time.monotonic()
    outcome = run_ctl("up", env=env)
    took = time.monotonic() - started_at
    assert sorted(outcome["started"]) == ["cassandra", "kafka"]
    print(f"second pair ready in {took:.1f} s")

    status = run_ctl("status", env=env)
    assert {name: row["state"] for name, row in status.items()} == {
        "kafka": "up",
        "cassandra": "up",
    }
    assert f":{env['LOGPIPE_KAFKA_PORT']} " in status["kafka"]["address"]
    assert f":{env['LOGPIPE_CASSANDRA_PORT']} " in status["cassandra"]["address"]
    pids = {name: row["pid"] for name, row in status.items()}
    assert all(_running(pid) for pid in pids.values())
    assert not set(pids.values()) & {row["pid"] for row in shared_before.values()}

    again = run_ctl("up", env=env)  # idempotent: reuses what runs
    assert again["started"] == []

    stopped = run_ctl("down", env=env)
    assert stopped == pids
    assert not any(_running(pid) for pid in pids.values())
    after = run_ctl("status", env=env)
    assert {row["state"] for row in after.values()} == {"down"}

    # the shared pair is as it was
    assert run_ctl("status") == shared_before

"""services/ctl runs a second, separate pair on other ports and folders, and `down` leaves
no JVM of that pair behind. The shared pair on the default ports is never touched."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def test_second_pair_starts_reports_and_stops_completely(
    separate_services, local_services, services_ctl
):
    pair = separate_services
    shared_before = services_ctl("status")

    started_at = time.monotonic()
    outcome = pair.ctl("up")
    took = time.monotonic() - started_at
    assert sorted(outcome["started"]) == ["cassandra", "kafka"]
    print(f"second pair ready in {took:.1f} s")

    status = pair.ctl("status")
    assert {name: row["state"] for name, row in status.items()} == {
        "kafka": "up",
        "cassandra": "up",
    }
    assert status["kafka"]["address"].startswith(f"{pair.kafka_bootstrap} ")
    assert status["cassandra"]["address"].startswith(f"{pair.cassandra_contact_points} ")
    pids = {name: row["pid"] for name, row in status.items()}
    assert all(_running(pid) for pid in pids.values())
    assert not set(pids.values()) & {row["pid"] for row in shared_before.values()}

    again = pair.ctl("up")  # idempotent: reuses what runs
    assert again["started"] == []

    stopped = pair.ctl("down")
    assert stopped == pids
    assert not any(_running(pid) for pid in pids.values())
    after = pair.ctl("status")
    assert {row["state"] for row in after.values()} == {"down"}

    # the shared pair is as it was
    assert services_ctl("status") == shared_before

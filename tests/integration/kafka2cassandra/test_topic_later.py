"""kafka2cassandra started before its topic exists: one INFO line of its own, not the Kafka
client's ERROR ("Topic ... not found in cluster metadata") and its assignor's WARNING;
then it consumes the topic once it is there."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from tests.support.k2c import keyspace, make_topic, poller_args, poller_process, wait_until

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("client", ["kafka-python", "confluent"])
def test_a_topic_created_after_the_start_is_no_error(
    client: str, tmp_path: Path, kafka_bootstrap: str, cassandra_contact_points: str, unique_name
) -> None:
    topic, ks, group = unique_name("later"), unique_name("ks"), unique_name("g")
    log_path = tmp_path / "poller.log"

    def lines() -> list[dict]:
        return [json.loads(line) for line in log_path.read_text().splitlines() if line]

    with keyspace(cassandra_contact_points, ks):
        proc = poller_process(
            kafka_bootstrap, cassandra_contact_points,
            *poller_args(topic, ks, group, "--kafka-client", client), log_path=log_path,
        )  # fmt: skip
        try:
            waiting = f"topic {topic} does not exist yet: waiting for it"
            assert wait_until(lambda: any(r["message"] == waiting for r in lines()), 30), (
                log_path.read_text()
            )
            time.sleep(1)
            make_topic(kafka_bootstrap, topic, partitions=1)
            assigned = f"{topic}-0"
            assert wait_until(
                lambda: any(assigned in r.get("partitions", []) for r in lines()), 60
            ), log_path.read_text()
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
    records = lines()
    assert [r for r in records if r["level"] in ("WARNING", "ERROR")] == []
    assert sum(1 for r in records if r["message"] == waiting) == 1
    assert all(r["time"].endswith("Z") for r in records)
    assert any(r["message"] == "consuming" and r["kafka_client"] == client for r in records)

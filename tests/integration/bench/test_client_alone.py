"""The benchmarks' floor, each Kafka client alone (bench/client_alone.py), against the real
broker: it ships every line of the file it follows, raw and in order, and stops on SIGTERM
with nothing left behind. A floor that dropped lines would flatter every shipper above it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from tests.support.forwarder import CLIENTS, access_line, make_topic
from tests.support.paths import ROOT

pytestmark = pytest.mark.integration

LINES = 500


def raw_values(bootstrap: str, topic: str, count: int, timeout: float) -> list[bytes]:
    """The first ``count`` values of partition 0 of ``topic`` (fewer if the time runs out)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    values: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while len(values) < count and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                values.extend(r.value for r in records)
    finally:
        consumer.close()
    return values


@pytest.mark.parametrize("client", CLIENTS)
def test_the_client_alone_ships_every_line_raw_and_in_order(
    client, kafka_bootstrap, unique_name, tmp_path: Path
):
    topic = make_topic(kafka_bootstrap, unique_name("client_alone"))
    log = tmp_path / "access.log"
    log.touch()
    out = tmp_path / "client_alone.out"
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, ROOT / "bench" / "client_alone.py", client, log, topic,
             kafka_bootstrap],
            stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while b"ready" not in out.read_bytes():
            assert proc.poll() is None, out.read_text()
            assert time.monotonic() < deadline, "client_alone.py did not start"
            time.sleep(0.1)
        lines = [access_line(client, n) for n in range(LINES)]
        with log.open("ab") as f:
            for line in lines:  # one write() per line, as Apache writes
                f.write(line)
                f.flush()
        values = raw_values(kafka_bootstrap, topic, LINES, 60)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, out.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert values == [line.rstrip(b"\n") for line in lines]

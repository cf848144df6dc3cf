"""Cassandra stopped for 20 s under load, then started: the poller pauses, retries,
resumes, and nothing is missing. Runs on a Kafka + Cassandra pair of its own, since it
stops a server."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from logpipe_testkit.ports import free_port
from logpipe_testkit.readiness import readyz
from tests.conftest import ServicePair
from tests.support.k2c import (
    all_logs,
    committed_offsets,
    end_offsets,
    entries,
    keyspace,
    make_topic,
    poller_args,
    poller_process,
    produce_entries,
    wait_until,
)

pytestmark = pytest.mark.integration

N = 6_000


def start_poller(
    bootstrap: str,
    contact: str,
    topic: str,
    ks: str,
    group: str,
    port: int,
    log: Path,
    kafka_client: str = "kafka-python",
) -> subprocess.Popen:
    """``kafka2cassandra poll`` in event mode, its /readyz on ``port``, its log in ``log``."""
    args = poller_args(
        topic,
        ks,
        group,
        "--log-id",
        "event",
        "--metrics-port",
        str(port),
        "--kafka-client",
        kafka_client,
    )
    return poller_process(bootstrap, contact, *args, log_path=log)


def take_down(
    pair: ServicePair, server: str, seconds: float, poller: subprocess.Popen, port: int
) -> None:
    """Stop ``server`` for ``seconds``, then start it again (also when a check fails): the
    poller must turn not ready and stay up meanwhile."""
    pair.ctl(f"stop-{server}")
    try:
        assert wait_until(lambda: readyz(port) == 503, 30)
        time.sleep(seconds)
        assert poller.poll() is None, f"the poller died while {server} was down"
    finally:
        pair.ctl(f"start-{server}")


def test_cassandra_down_20s_under_load(separate_services, unique_name, tmp_path):
    pair = separate_services
    pair.ctl("up")
    bootstrap, contact = pair.kafka_bootstrap, pair.cassandra_contact_points
    topic, ks, group = unique_name("outage"), unique_name("outage"), unique_name("outage")
    sent = entries(N, sources=3)
    make_topic(bootstrap, topic, partitions=3)
    port = free_port()
    log = tmp_path / "poller.log"
    stop_trickle = threading.Event()

    def trickle() -> None:  # ~40 s of steady traffic
        for start in range(0, N, 150):
            produce_entries(bootstrap, topic, sent[start : start + 150])
            if stop_trickle.wait(1.0):
                return

    with keyspace(contact, ks) as store:
        poller = start_poller(bootstrap, contact, topic, ks, group, port, log)
        producer = threading.Thread(target=trickle)
        try:
            assert wait_until(lambda: readyz(port) == 200, 60)
            producer.start()
            assert wait_until(lambda: len(all_logs(store, ks)) >= 600, 60)
            take_down(pair, "cassandra", 20, poller, port)
            assert wait_until(lambda: readyz(port) == 200, 120)
            producer.join(180)
            end = end_offsets(bootstrap, topic)
            assert sum(end.values()) == N
            assert wait_until(lambda: committed_offsets(bootstrap, group, topic) == end, 180)
            assert sorted(all_logs(store, ks)) == sorted(e.log for e in sent)
        finally:
            stop_trickle.set()
            poller.send_signal(signal.SIGTERM)
            assert poller.wait(30) == 0
            producer.join(60) if producer.is_alive() else None

    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    failing = [x for x in lines if x["message"].startswith("Cassandra writes failing")]
    recovered = [x for x in lines if x["message"].startswith("Cassandra writes succeeding")]
    # Each state change is logged once, not once per failed write.
    assert 1 <= len(failing) <= 3
    assert len(recovered) == len(failing)


@pytest.mark.parametrize("kafka_client", ["kafka-python", "confluent"])
def test_kafka_down_15s_under_load(separate_services, unique_name, tmp_path, kafka_client):
    pair = separate_services
    pair.ctl("up")
    bootstrap, contact = pair.kafka_bootstrap, pair.cassandra_contact_points
    topic, ks, group = unique_name("kdown"), unique_name("kdown"), unique_name("kdown")
    sent = entries(4_000, sources=3)
    make_topic(bootstrap, topic, partitions=3)
    produce_entries(bootstrap, topic, sent[:2_000])
    port = free_port()
    log = tmp_path / "poller.log"
    with keyspace(contact, ks) as store:
        poller = start_poller(bootstrap, contact, topic, ks, group, port, log, kafka_client)
        try:
            assert wait_until(lambda: len(all_logs(store, ks)) >= 2_000, 60)
            take_down(pair, "kafka", 15, poller, port)
            produce_entries(bootstrap, topic, sent[2_000:])
            end = end_offsets(bootstrap, topic)
            assert wait_until(lambda: committed_offsets(bootstrap, group, topic) == end, 180)
            assert wait_until(lambda: readyz(port) == 200, 60)
            assert sorted(all_logs(store, ks)) == sorted(e.log for e in sent)
        finally:
            poller.send_signal(signal.SIGTERM)
            assert poller.wait(30) == 0
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    unreachable = [x for x in lines if x["message"].startswith("Kafka unreachable")]
    assert len(unreachable) <= 3  # a state change, not a line per poll

"""Cassandra stopped for 20 s under load, then started: the poller pauses, retries,
resumes, and nothing is missing. Runs on a Kafka + Cassandra pair of its own, since it
stops a server."""

from __future__ import annotations

import json
import signal
import threading
import time

import pytest

from logpipe_testkit.ports import free_port
from logpipe_testkit.readiness import readyz
from tests.support.k2c import (
    all_logs,
    committed_offsets,
    end_offsets,
    entries,
    keyspace,
    make_topic,
    poller_process,
    produce_entries,
    wait_until,
)

pytestmark = pytest.mark.integration

N = 6_000


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
        poller = poller_process(
            bootstrap, contact,
            "--topic", topic, "--keyspace", ks, "--group-id", group,
            "--dlq-topic", f"{topic}_dlq", "--log-id", "event", "--metrics-port", str(port),
            log_path=log,
        )  # fmt: skip
        producer = threading.Thread(target=trickle)
        stopped = False
        try:
            assert wait_until(lambda: readyz(port) == 200, 60)
            producer.start()
            assert wait_until(lambda: len(all_logs(store, ks)) >= 600, 60)
            pair.ctl("stop-cassandra")
            stopped = True
            assert wait_until(lambda: readyz(port) == 503, 30)
            time.sleep(20)
            assert poller.poll() is None, "the poller died while Cassandra was down"
            pair.ctl("start-cassandra")
            stopped = False
            assert wait_until(lambda: readyz(port) == 200, 120)
            producer.join(180)
            end = end_offsets(bootstrap, topic)
            assert sum(end.values()) == N
            assert wait_until(lambda: committed_offsets(bootstrap, group, topic) == end, 180)
            assert sorted(all_logs(store, ks)) == sorted(e.log for e in sent)
        finally:
            stop_trickle.set()
            if stopped:
                pair.ctl("start-cassandra")
            poller.send_signal(signal.SIGTERM)
            assert poller.wait(30) == 0
            producer.join(60) if producer.is_alive() else None

    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    failing = [x for x in lines if x["message"].startswith("Cassandra writes failing")]
    recovered = [x for x in lines if x["message"].startswith("Cassandra writes succeeding")]
    # Each state change is logged once, not once per failed write.
    assert 1 <= len(failing) <= 3
    assert len(recovered) == len(failing)


def test_kafka_down_15s_under_load(separate_services, unique_name, tmp_path):
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
        poller = poller_process(
            bootstrap, contact,
            "--topic", topic, "--keyspace", ks, "--group-id", group,
            "--dlq-topic", f"{topic}_dlq", "--log-id", "event", "--metrics-port", str(port),
            log_path=log,
        )  # fmt: skip
        stopped = False
        try:
            assert wait_until(lambda: len(all_logs(store, ks)) >= 2_000, 60)
            pair.ctl("stop-kafka")
            stopped = True
            assert wait_until(lambda: readyz(port) == 503, 30)
            time.sleep(15)
            assert poller.poll() is None, "the poller died while Kafka was down"
            pair.ctl("start-kafka")
            stopped = False
            produce_entries(bootstrap, topic, sent[2_000:])
            end = end_offsets(bootstrap, topic)
            assert wait_until(lambda: committed_offsets(bootstrap, group, topic) == end, 180)
            assert wait_until(lambda: readyz(port) == 200, 60)
            assert sorted(all_logs(store, ks)) == sorted(e.log for e in sent)
        finally:
            if stopped:
                pair.ctl("start-kafka")
            poller.send_signal(signal.SIGTERM)
            assert poller.wait(30) == 0
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    unreachable = [x for x in lines if x["message"].startswith("Kafka unreachable")]
    assert len(unreachable) <= 3  # a state change, not a line per poll

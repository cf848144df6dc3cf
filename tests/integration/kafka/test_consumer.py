"""The poller's Kafka consumer (logpipe.kafka.open_consumer, either client) against the
real broker."""

from __future__ import annotations

import threading
import time

import pytest
from kafka.coordinator.base import MemberState

from logpipe.config.connections import KafkaConnection
from logpipe.kafka import ConsumerSettings, LogConsumer, open_consumer
from tests.support.k2c import (
    committed_offsets,
    end_offsets,
    entries,
    make_topic,
    produce_entries,
)

pytestmark = pytest.mark.integration

CLIENTS = ["kafka-python", "confluent"]


class Recorder:
    def __init__(self):
        self.assigned, self.revoked, self.lost = [], [], []

    def on_assigned(self, partitions):
        self.assigned += partitions

    def on_revoked(self, partitions):
        self.revoked += partitions

    def on_lost(self, partitions):
        self.lost += partitions


def poll_until(consumer, count, timeout=30.0):
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        got += consumer.poll(0.5)
    return got


@pytest.mark.parametrize("client", CLIENTS)
def test_group_settings_pause_and_a_commit(client, kafka_bootstrap, unique_name):
    topic, group = unique_name("consumer"), unique_name("consumer")
    make_topic(kafka_bootstrap, topic, partitions=1)
    produce_entries(kafka_bootstrap, topic, entries(50, sources=1))
    handler = Recorder()
    consumer = open_consumer(
        KafkaConnection(bootstrap_servers=kafka_bootstrap),
        topic,
        ConsumerSettings(group_id=group, group_instance_id="pod-1", client=client),
        handler,
    )
    try:
        got = poll_until(consumer, 50)
        assert [r.offset for r in got] == list(range(50))
        assert all(r.timestamp_ms > 0 and r.key == b"www0" and r.value for r in got)
        assert handler.assigned == [(topic, 0)]
        assert consumer.assignment() == {(topic, 0)}
        assert consumer.highwater((topic, 0)) == 50
        deadline = time.monotonic() + 5  # confluent: from its statistics, once a second
        while not consumer.connected() and time.monotonic() < deadline:
            consumer.poll(0.2)
        assert consumer.connected()

        consumer.pause([(topic, 0)])
        assert consumer.paused() == {(topic, 0)}
        produce_entries(kafka_bootstrap, topic, entries(5, sources=1, start=50))
        assert consumer.poll(1.0) == []  # paused: nothing, but the membership is kept
        consumer.resume([(topic, 0)])
        assert consumer.paused() == set()
        assert [r.offset for r in poll_until(consumer, 5)] == list(range(50, 55))

        done = []
        consumer.commit_async({(topic, 0): 10}, lambda offsets, exc: done.append((offsets, exc)))
        consumer.commit_async({(topic, 0): 20}, lambda offsets, exc: done.append((offsets, exc)))
        deadline = time.monotonic() + 20
        while len(done) < 2 and time.monotonic() < deadline:
            consumer.poll(0.2)
        assert sorted(done, key=repr) == [({(topic, 0): 10}, None), ({(topic, 0): 20}, None)], done
        assert committed_offsets(kafka_bootstrap, group, topic) == {0: 20}

        if isinstance(consumer, LogConsumer):
            inner = consumer._consumer
            assert inner.config["enable_auto_commit"] is False
            assert inner.config["auto_offset_reset"] == "earliest"
            assert inner.config["group_instance_id"] == "pod-1"
            assert [a.name for a in inner._coordinator._assignors.values()] == [
                "cooperative-sticky"
            ]
            # kafka-python 3.0.12 can leave a member "rebalancing" for good after racing
            # joins; a commit must still get through.
            inner._coordinator.state = MemberState.REBALANCING
        consumer.commit({(topic, 0): 42}, timeout=20)
        assert committed_offsets(kafka_bootstrap, group, topic) == {0: 42}
    finally:
        consumer.close()
    assert handler.lost == []


def test_a_busy_partition_beside_idle_ones_is_never_held_up_by_their_fetches(
    kafka_bootstrap, unique_name
):
    """One busy host on a 3-partition topic: every record sits in one partition. While the
    client hands out that partition's records its next fetch asks only for the idle two;
    the broker holds such a fetch up to ``fetch_max_wait_ms``, and the busy partition is
    fetched again only after it (one fetch in flight per broker). The fetches must come
    back quickly (the client's default of 500 ms made such a topic drain at a third of
    the rate of the same records spread out): no fetch takes 400 ms, even on a busy
    machine."""
    topic, group = unique_name("skewed"), unique_name("skewed")
    make_topic(kafka_bootstrap, topic, partitions=3)
    produce_entries(kafka_bootstrap, topic, entries(20_000, sources=1))
    consumer = LogConsumer(
        KafkaConnection(bootstrap_servers=kafka_bootstrap), topic, ConsumerSettings(group_id=group)
    )
    try:
        got = poll_until(consumer, 20_000)
        assert len({r.partition for r in got}) == 1  # all in one of the three
        assert [r.offset for r in got] == list(range(20_000))
        fetching = consumer._consumer.metrics()["consumer-fetch-manager-metrics"]
        assert fetching["fetch-rate"] > 0
        assert fetching["fetch-latency-max"] < 400, fetching  # 500 ms and more before
    finally:
        consumer.close()


class CommitOnRevoke(Recorder):
    """What the poller does on revocation: commit the position of what was handed out."""

    def __init__(self):
        super().__init__()
        self.consumer = None
        self.position = {}
        self.committed = {}

    def took(self, records):
        for r in records:
            self.position[r.tp] = r.offset + 1

    def on_revoked(self, partitions):
        super().on_revoked(partitions)
        offsets = {tp: self.position[tp] for tp in partitions if tp in self.position}
        self.committed.update(offsets)
        self.consumer.commit_async(offsets, lambda _offsets, exc: None)


def test_a_member_joining_takes_partitions_where_the_revoked_member_committed(
    kafka_bootstrap, unique_name
):
    """confluent: a cooperative rebalance. The first member gives up some partitions,
    committing what it handed out in ``on_revoked`` (asynchronously, as the poller does);
    the second starts each of them exactly there. Every record is handed out once, in
    offset order per partition."""
    first = second = "confluent"
    topic, group = unique_name("handover"), unique_name("handover")
    total = 4_000
    make_topic(kafka_bootstrap, topic, partitions=4)
    produce_entries(kafka_bootstrap, topic, entries(total, sources=8))
    conn = KafkaConnection(bootstrap_servers=kafka_bootstrap)
    members = []
    for client in (first, second):
        handler = CommitOnRevoke()
        settings = ConsumerSettings.with_session_timeout(10, group_id=group, client=client)
        members.append((handler, settings))
    got = {0: [], 1: []}
    a_handler, a_settings = members[0]
    a = open_consumer(conn, topic, a_settings, a_handler)
    a_handler.consumer = a
    b = None
    try:
        while len(got[0]) < 1_000:
            records = a.poll(0.2, max_records=50)
            a_handler.took(records)
            got[0] += records
        b_handler, b_settings = members[1]
        b = open_consumer(conn, topic, b_settings, b_handler)
        b_handler.consumer = b
        deadline = time.monotonic() + 60
        while len(got[0]) + len(got[1]) < total and time.monotonic() < deadline:
            for i, (consumer, handler) in enumerate(((a, a_handler), (b, b_handler))):
                records = consumer.poll(0.1, max_records=50)
                handler.took(records)
                got[i] += records
        moved = set(a_handler.revoked)
        assert moved and moved == set(b_handler.assigned), (a_handler.revoked, b_handler.assigned)
        assert a.assignment() | b.assignment() == {(topic, p) for p in range(4)}
    finally:
        for consumer in (a, b):
            if consumer is not None:
                consumer.close()
    seen = sorted((r.partition, r.offset) for r in got[0] + got[1])
    assert len(seen) == total and len(set(seen)) == total  # every record, once
    for records in got.values():
        for p in range(4):
            offsets = [r.offset for r in records if r.partition == p]
            assert offsets == sorted(offsets)
    ends = {(topic, p): end for p, end in end_offsets(kafka_bootstrap, topic).items()}
    for tp, position in a_handler.committed.items():
        taken = [r.offset for r in got[1] if r.tp == tp]
        assert (min(taken) if taken else ends[tp]) == position, (tp, position, taken[:1])


@pytest.mark.parametrize("client", CLIENTS)
def test_poll_returns_once_a_record_arrives_not_at_its_timeout(
    client, kafka_bootstrap, unique_name
):
    """At a low rate a poll must hand out the first record when it arrives: a poll that
    waited for a full batch or its whole timeout would add that wait to every line's
    delay, and hold back the acknowledgements and commits served between polls."""
    topic, group = unique_name("prompt"), unique_name("prompt")
    make_topic(kafka_bootstrap, topic, partitions=1)
    produce_entries(kafka_bootstrap, topic, entries(1, sources=1))
    consumer = open_consumer(
        KafkaConnection(bootstrap_servers=kafka_bootstrap),
        topic,
        ConsumerSettings(group_id=group, client=client),
        Recorder(),
    )
    try:
        assert [r.offset for r in poll_until(consumer, 1)] == [0]
        waits = []
        for n in range(1, 4):
            timer = threading.Timer(
                0.5, produce_entries, (kafka_bootstrap, topic, entries(1, sources=1, start=n))
            )
            timer.start()
            began = time.monotonic()
            got = consumer.poll(10.0)
            waits.append(time.monotonic() - began)
            timer.join()
            got += poll_until(consumer, 1 - len(got), timeout=15) if not got else []
            assert [r.offset for r in got] == [n]
        # The record is produced 0.5 s into each poll; well under the 10 s timeout.
        assert max(waits) < 3.0, waits
    finally:
        consumer.close()

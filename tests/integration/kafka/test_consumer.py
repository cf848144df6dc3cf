"""The poller's Kafka consumer (logpipe.kafka.LogConsumer) against the real broker."""

from __future__ import annotations

import time

import pytest
from kafka.coordinator.base import MemberState

from logpipe.config.connections import KafkaConnection
from logpipe.kafka import ConsumerSettings, LogConsumer
from tests.support.k2c import committed_offsets, entries, make_topic, produce_entries

pytestmark = pytest.mark.integration


class Recorder:
    def __init__(self):
        self.assigned, self.revoked = [], []

    def on_assigned(self, partitions):
        self.assigned += partitions

    def on_revoked(self, partitions):
        self.revoked += partitions

    def on_lost(self, partitions):
        self.revoked += partitions


def test_group_settings_pause_and_a_commit_through_a_stuck_rebalance(kafka_bootstrap, unique_name):
    topic, group = unique_name("consumer"), unique_name("consumer")
    make_topic(kafka_bootstrap, topic, partitions=1)
    produce_entries(kafka_bootstrap, topic, entries(50, sources=1))
    handler = Recorder()
    consumer = LogConsumer(
        KafkaConnection(bootstrap_servers=kafka_bootstrap),
        topic,
        ConsumerSettings(group_id=group, group_instance_id="pod-1"),
        handler,
    )
    try:
        inner = consumer._consumer
        assert inner.config["enable_auto_commit"] is False
        assert inner.config["auto_offset_reset"] == "earliest"
        assert inner.config["group_instance_id"] == "pod-1"
        assert [a.name for a in inner._coordinator._assignors.values()] == ["cooperative-sticky"]

        got = []
        deadline = time.monotonic() + 30
        while len(got) < 50 and time.monotonic() < deadline:
            got += consumer.poll(0.5)
        assert [r.offset for r in got] == list(range(50))
        assert handler.assigned == [(topic, 0)]

        consumer.pause([(topic, 0)])
        assert consumer.paused() == {(topic, 0)}
        produce_entries(kafka_bootstrap, topic, entries(5, sources=1, start=50))
        assert consumer.poll(1.0) == []  # paused: nothing, but the membership is kept
        consumer.resume([(topic, 0)])

        # kafka-python 3.0.12 can leave a member "rebalancing" for good after racing
        # joins; a commit must still get through.
        inner._coordinator.state = MemberState.REBALANCING
        consumer.commit({(topic, 0): 42}, timeout=20)
        assert committed_offsets(kafka_bootstrap, group, topic) == {0: 42}
    finally:
        consumer.close()


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
        got = []
        deadline = time.monotonic() + 30
        while len(got) < 20_000 and time.monotonic() < deadline:
            got += consumer.poll(0.5)
        assert len({r.partition for r in got}) == 1  # all in one of the three
        assert [r.offset for r in got] == list(range(20_000))
        fetching = consumer._consumer.metrics()["consumer-fetch-manager-metrics"]
        assert fetching["fetch-rate"] > 0
        assert fetching["fetch-latency-max"] < 400, fetching  # 500 ms and more before
    finally:
        consumer.close()

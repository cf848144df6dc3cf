"""Pure pieces of logpipe.kafka: key partitioning and the client log filter."""

from __future__ import annotations

import logging

from kafka.partitioner.default import DefaultPartitioner

from logpipe.kafka.client_logs import _OncePerMessage
from logpipe.kafka.kafka_python import _CachedKeyPartitioner


class Cluster:
    def __init__(self, partitions: int) -> None:
        self.partitions = set(range(partitions))

    def partitions_for_topic(self, topic):
        return self.partitions

    def available_partitions_for_topic(self, topic):
        return self.partitions

    def topics(self):
        return {"t"}


def test_cached_partitioner_agrees_with_kafka_python_default():
    ours, theirs = _CachedKeyPartitioner(), DefaultPartitioner()
    for count in (1, 3, 12):
        cluster = Cluster(count)
        for key in (b"www1", b"www2", b"web-frontend-17.example.org", b""):
            expected = theirs.partition("t", key, key, None, None, cluster)
            assert ours.partition("t", key, key, None, None, cluster) == expected
            assert ours.partition("t", key, key, None, None, cluster) == expected  # cached


def test_cached_partitioner_follows_a_partition_count_change():
    ours = _CachedKeyPartitioner()
    keys = [f"host{n}".encode() for n in range(50)]
    with_two = {k: ours.partition("t", k, k, None, None, Cluster(2)) for k in keys}
    with_seven = {k: ours.partition("t", k, k, None, None, Cluster(7)) for k in keys}
    assert max(with_two.values()) <= 1
    assert max(with_seven.values()) >= 2


def record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("kafka.conn", logging.ERROR, __file__, 1, message, args, None)


def test_client_log_repetitions_are_dropped_first_words_kept():
    once = _OncePerMessage(interval=300)
    assert once.filter(record("Connect to %s failed", "127.0.0.1:9092"))
    # The same message with other numbers (a port, a count) is a repetition.
    assert not once.filter(record("Connect to %s failed", "127.0.0.1:9093"))
    assert once.filter(record("Connection lost after %d ms", 12))
    assert not once.filter(record("Connection lost after %d ms", 3017))
    assert once.filter(record("Authentication failed"))


def test_client_log_repeats_again_after_the_interval():
    once = _OncePerMessage(interval=0.0)
    assert once.filter(record("Broker down"))
    assert once.filter(record("Broker down"))

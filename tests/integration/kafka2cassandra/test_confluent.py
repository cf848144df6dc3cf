"""kafka2cassandra with ``--kafka-client confluent``: the guarantees of the poller hold with
the librdkafka consumer too (the tests shared with kafka-python are parametrized where they
are: test_dlq, test_topic_later, tests/integration/kafka/test_consumer.py)."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from tests.support.k2c import (
    all_logs,
    committed_offsets,
    end_offsets,
    entries,
    keyspace,
    make_topic,
    produce_entries,
    stream_poller,
    wait_until,
)

pytestmark = pytest.mark.integration


def test_stop_and_restart_every_record_becomes_one_row(
    kafka_bootstrap, cassandra_contact_points, unique_name
):
    """Stopped in the middle of a stream, then started again: the restarted poller reads
    from the offsets the first committed, and each record is one row, none twice (log_id
    now(): a record read twice would be two rows)."""
    topic, ks, group = unique_name("restart"), unique_name("restart"), unique_name("restart")
    n = 3_000
    sent = entries(n, sources=4)
    make_topic(kafka_bootstrap, topic, partitions=3)
    produce_entries(kafka_bootstrap, topic, sent)
    # One row per write, one write at a time: slow enough to stop it mid-stream.
    config = {"log_id_mode": "now", "batch_rows": 1, "max_in_flight": 1}
    with keyspace(cassandra_contact_points, ks) as store:
        first = stream_poller(
            kafka_bootstrap, cassandra_contact_points, topic, ks, group,
            kafka_client="confluent", **config,
        )  # fmt: skip
        with first:
            assert wait_until(lambda: len(all_logs(store, ks)) >= n // 5, 60, 0.2)
        stored = len(all_logs(store, ks))
        committed = committed_offsets(kafka_bootstrap, group, topic)
        assert stored < n, "the stream was not interrupted in the middle"
        assert sum(committed.values()) == stored  # everything stored is committed

        second = stream_poller(
            kafka_bootstrap, cassandra_contact_points, topic, ks, group,
            kafka_client="confluent", **config,
        )  # fmt: skip
        with second:
            end = end_offsets(kafka_bootstrap, topic)
            assert wait_until(lambda: committed_offsets(kafka_bootstrap, group, topic) == end, 90)
        logs = all_logs(store, ks)
    assert Counter(logs) == Counter(e.log for e in sent)  # each record once, none twice


def test_a_rebalance_between_two_pollers_loses_nothing(
    kafka_bootstrap, cassandra_contact_points, unique_name
):
    """A second poller joins while records arrive (cooperative: it takes some partitions
    from the first, which commits what it stored on revocation), then the first stops (the
    second takes them all): every record is a row, and the group has committed them all."""
    topic, ks, group = unique_name("rebal"), unique_name("rebal"), unique_name("rebal")
    n = 6_000
    sent = entries(n, sources=8)
    make_topic(kafka_bootstrap, topic, partitions=4)

    def trickle() -> None:  # about 6 s of traffic
        for start in range(0, n, 500):
            produce_entries(kafka_bootstrap, topic, sent[start : start + 500])
            time.sleep(0.5)

    producer = threading.Thread(target=trickle)
    with keyspace(cassandra_contact_points, ks) as store:
        a = stream_poller(
            kafka_bootstrap, cassandra_contact_points, topic, ks, group,
            kafka_client="confluent", log_id_mode="event",
        )  # fmt: skip
        b = stream_poller(
            kafka_bootstrap, cassandra_contact_points, topic, ks, group,
            kafka_client="confluent", log_id_mode="event",
        )  # fmt: skip
        try:
            with a:
                producer.start()
                assert wait_until(lambda: len(all_logs(store, ks)) >= 1_000, 60, 0.2)
                with b:
                    assert wait_until(lambda: b.poller.tracker.partitions() != [], 30, 0.2)
                    assert a.poller.tracker.partitions() != []  # sticky: a kept some
                    assert wait_until(lambda: len(all_logs(store, ks)) >= n // 2, 60, 0.2)
                    a.stop()
                    producer.join(60)
                    end = end_offsets(kafka_bootstrap, topic)
                    assert sum(end.values()) == n
                    assert wait_until(
                        lambda: committed_offsets(kafka_bootstrap, group, topic) == end, 90
                    )
        finally:
            producer.join(60)
        assert sorted(set(all_logs(store, ks))) == sorted(e.log for e in sent)

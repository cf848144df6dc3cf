"""Faults of the dead-letter path and of the schema, on the shared servers.

A dead letter the topic does not take pauses its own partition only; one too large is
cut to fit; the topic is made with the cluster's default replication; a table dropped
and recreated is waited for, never dead-lettered.
"""

from __future__ import annotations

import time

import pytest
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import InvalidReplicationFactorError

from logpipe.cassandra import Replication
from logpipe.config.connections import KafkaConnection
from logpipe.envelope import encode
from logpipe.kafka import create_topic
from tests.support.k2c import (
    PollerThread,
    all_logs,
    caught_up,
    committed_offsets,
    end_offsets,
    entries,
    keyspace,
    make_topic,
    produce_entries,
    read_partition,
    stream_poller,
    wait_until,
)
from tests.support.layout import suite_bucket

pytestmark = pytest.mark.integration

#: Quick retries, so a fault cleared is noticed within a second.
FAST = {"retry_base": 0.2, "retry_cap": 1.0, "log_id_mode": "event"}


def fast_poller(bootstrap: str, contact: str, name: str, dlq: str, **extra: object) -> PollerThread:
    """A poller of topic, keyspace and group ``name``, retrying quickly (``extra`` may
    override the retry settings too)."""
    return stream_poller(bootstrap, contact, name, name, name, dlq_topic=dlq, **{**FAST, **extra})


def admin(bootstrap: str) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=bootstrap, client_id="logpipe-test")


def replicas(bootstrap: str, topic: str) -> int:
    client = admin(bootstrap)
    try:
        [described] = client.describe_topics([topic])
        return len(described["partitions"][0]["replica_nodes"])
    finally:
        client.close()


def set_max_message_bytes(bootstrap: str, topic: str, limit: int, create: bool = False) -> None:
    client = admin(bootstrap)
    try:
        if create:
            client.create_topics(
                [NewTopic(topic, 1, 1, topic_configs={"max.message.bytes": str(limit)})]
            )
        else:
            resource = ConfigResource(
                ConfigResourceType.TOPIC, topic, configs={"max.message.bytes": str(limit)}
            )
            client.alter_configs([resource])
    finally:
        client.close()


def produce_to(bootstrap: str, topic: str, partition: int, values: list[bytes]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for value in values:
        producer.send(topic, value=value, key=b"k", partition=partition)
    producer.flush(30)
    producer.close()


def test_dead_letter_topic_gets_the_cluster_default_replication(
    kafka_bootstrap, cassandra_contact_points, unique_name
):
    topic, ks, dlq = unique_name("rf"), unique_name("rf"), unique_name("rf_dlq")
    make_topic(kafka_bootstrap, topic, partitions=1)
    with (
        keyspace(cassandra_contact_points, ks),
        PollerThread(
            kafka_bootstrap, cassandra_contact_points, topic=topic, keyspace=ks, dlq_topic=dlq
        ),
    ):
        # the broker's default.replication.factor: 1 on the one local broker
        assert replicas(kafka_bootstrap, dlq) == 1
    # The flag's value is what is asked for: 2 replicas cannot be had from one broker.
    with pytest.raises(InvalidReplicationFactorError):
        create_topic(
            KafkaConnection(bootstrap_servers=kafka_bootstrap),
            unique_name("rf2"),
            replication_factor=2,
            timeout=10,
        )


def test_unwritable_dead_letter_topic_holds_only_its_partition_then_letters_are_cut_to_fit(
    kafka_bootstrap, cassandra_contact_points, unique_name
):
    name, dlq = unique_name("held"), unique_name("held_dlq")
    make_topic(kafka_bootstrap, name, partitions=2)
    set_max_message_bytes(kafka_bootstrap, dlq, 100, create=True)  # not even the headers fit
    good = [encode(e) for e in entries(40, sources=1)]
    poison = b"not an envelope " + b"x" * 20_000
    produce_to(kafka_bootstrap, name, 0, [*good[:5], poison, *good[5:10]])
    # Rounds of retries 1-2 s apart, so the limit below changes between two rounds,
    # never while one round cuts the letter down step by step.
    with (
        keyspace(cassandra_contact_points, name) as store,
        fast_poller(
            kafka_bootstrap, cassandra_contact_points, name, dlq, retry_base=2.0, retry_cap=2.0
        ) as running,
    ):
        metrics = running.poller.metrics
        assert wait_until(lambda: metrics.dead_letter_held._value.get() == 1, 20)
        # partition 1 flows meanwhile: its rows arrive within 5 s
        produce_to(kafka_bootstrap, name, 1, good[10:40])
        sent = time.monotonic()
        assert wait_until(lambda: len(all_logs(store, name)) == 40, 5, 0.1)
        assert time.monotonic() - sent < 5
        assert wait_until(
            lambda: committed_offsets(kafka_bootstrap, name, name) == {0: 5, 1: 30}, 10
        )
        failures = metrics.dead_letter_failures._value.get()
        assert failures >= 1
        # the topic takes 3000 bytes from the next round on: the letter goes, cut to the
        # first half of a half of a half that fits, and partition 0 resumes
        assert wait_until(lambda: metrics.dead_letter_failures._value.get() > failures, 5, 0.01)
        set_max_message_bytes(kafka_bootstrap, dlq, 3000)
        assert wait_until(lambda: caught_up(kafka_bootstrap, name, name), 30)
        assert metrics.dead_letter_held._value.get() == 0
        assert sorted(all_logs(store, name)) == sorted(e.log for e in entries(40, sources=1))
    [letter] = read_partition(kafka_bootstrap, dlq, timeout=10)
    headers = dict(letter.headers)
    assert headers["logpipe.original.size"] == str(len(poison)).encode()
    assert headers["logpipe.source.offset"] == b"5" and headers["logpipe.error"] == b"envelope"
    assert letter.value == poison[: len(poison) // 8]  # 2,502 of 20,016 bytes


def test_poison_in_one_partition_with_no_dead_letter_topic_to_be_had_holds_up_no_other(
    kafka_bootstrap, cassandra_contact_points, unique_name
):
    name = unique_name("poison")
    make_topic(kafka_bootstrap, name, partitions=2)
    good = [encode(e) for e in entries(300, sources=1)]
    # Poison after poison in partition 0, and a dead-letter topic that cannot exist.
    produce_to(kafka_bootstrap, name, 0, [good[0], *[b"\xff poison"] * 200, good[1]])
    with (
        keyspace(cassandra_contact_points, name) as store,
        fast_poller(
            kafka_bootstrap, cassandra_contact_points, name, "no such topic!", shutdown_timeout=4.0
        ) as running,
    ):
        assert wait_until(lambda: running.poller.metrics.dead_letter_held._value.get(), 20)
        produce_to(kafka_bootstrap, name, 1, good[2:])
        sent = time.monotonic()
        assert wait_until(lambda: len(all_logs(store, name)) == 300, 5, 0.1)
        assert time.monotonic() - sent < 5
        assert running.poller.is_alive()
        assert wait_until(
            lambda: committed_offsets(kafka_bootstrap, name, name) == {0: 1, 1: 298}, 10
        )


def test_table_dropped_and_recreated_is_waited_for_never_dead_lettered(
    kafka_bootstrap, cassandra_contact_points, unique_name
):
    name = unique_name("drop")
    dlq = f"{name}_dlq"
    make_topic(kafka_bootstrap, name, partitions=2)
    before, after = entries(100, sources=2), entries(300, sources=2, start=100)
    with (
        keyspace(cassandra_contact_points, name) as store,
        fast_poller(kafka_bootstrap, cassandra_contact_points, name, dlq) as running,
    ):
        metrics = running.poller.metrics
        produce_entries(kafka_bootstrap, name, before)
        assert wait_until(lambda: caught_up(kafka_bootstrap, name, name), 30)
        committed = committed_offsets(kafka_bootstrap, name, name)
        store.session.execute(f"DROP TABLE {name}.logs")
        produce_entries(kafka_bootstrap, name, after)
        assert wait_until(lambda: metrics.schema_missing._value.get() == 1, 20)
        time.sleep(2)  # several retries against the missing table
        assert committed_offsets(kafka_bootstrap, name, name) == committed
        store.apply_schema(name, Replication.parse(1), bucket=suite_bucket())
        assert wait_until(lambda: len(all_logs(store, name)) == len(after), 30)
        assert wait_until(lambda: caught_up(kafka_bootstrap, name, name), 30)
        assert metrics.schema_missing._value.get() == 0
        assert sorted(all_logs(store, name)) == sorted(e.log for e in after)
    assert end_offsets(kafka_bootstrap, dlq) == {0: 0}

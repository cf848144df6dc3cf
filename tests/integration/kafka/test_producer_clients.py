"""The two Kafka clients behind logpipe.kafka against the real broker: every compression
codec offered by --compression round-trips, and both place a key on the same partition."""

from __future__ import annotations

import time

import pytest

from logpipe.config.connections import KafkaConnection
from logpipe.envelope import LogEntry, encode
from logpipe.kafka import COMPRESSIONS, ProducerSettings, open_producer
from tests.support.forwarder import CLIENTS, TopicReader, make_topic

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_codec_round_trip(client, compression, kafka_bootstrap, unique_name):
    topic = make_topic(kafka_bootstrap, unique_name(f"codec_{compression}"))
    conn = KafkaConnection(bootstrap_servers=kafka_bootstrap)
    producer = open_producer(
        conn, topic, ProducerSettings(compression=compression, client=client, linger_ms=5)
    )
    sent = [
        LogEntry("codec", "www_access", "2026-11-25T08:00:00+00:00", f"line {n} " + "x" * n)
        for n in range(300)
    ]
    acked: list[int] = []
    errors: list[BaseException] = []

    def on_ack(error, n):
        if error is None:
            acked.append(n)
        else:
            errors.append(error)

    for n, entry in enumerate(sent):
        producer.send(b"codec", encode(entry), on_ack, n)
    assert producer.flush(30)
    producer.close()
    assert not errors
    assert acked == list(range(300))
    reader = TopicReader(kafka_bootstrap, topic)
    try:
        got = reader.wait_count(300, 30)
    finally:
        reader.close()
    assert [e.log for e in got] == [e.log for e in sent]


def test_both_clients_put_a_key_on_the_same_partition(kafka_bootstrap, unique_name):
    """Switching --kafka-client keeps each host's lines on its partition (murmur2, as
    the Java client), so their order survives the switch."""
    from kafka import KafkaConsumer, TopicPartition

    from logpipe.kafka import create_topic

    topic = unique_name("partitions")
    conn = KafkaConnection(bootstrap_servers=kafka_bootstrap)
    create_topic(conn, topic, partitions=6)
    keys = [f"www{n}".encode() for n in range(12)]
    for client in CLIENTS:
        producer = open_producer(conn, topic, ProducerSettings(client=client, linger_ms=1))
        for key in keys:
            producer.send(key, client.encode(), lambda error: None)
        assert producer.flush(30)
        producer.close()
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in range(6)]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        where: dict[bytes, dict[str, int]] = {}
        deadline = time.monotonic() + 30
        while sum(len(v) for v in where.values()) < 2 * len(keys):
            assert time.monotonic() < deadline, where
            for tp, records in consumer.poll(timeout_ms=500).items():
                for r in records:
                    where.setdefault(r.key, {})[r.value.decode()] = tp.partition
    finally:
        consumer.close()
    assert all(len(set(by_client.values())) == 1 for by_client in where.values()), where
    assert len({next(iter(v.values())) for v in where.values()}) > 1  # keys do spread


@pytest.mark.parametrize("client", CLIENTS)
def test_full_batches_go_at_once_without_waiting_for_the_linger(
    client, kafka_bootstrap, unique_name
):
    """A batch is sent as soon as it is full, however many records pile up behind it:
    with a linger of a minute, every record but those of the last (unfilled) batch is
    acknowledged within seconds, without a flush. A wake-up of the client's IO thread
    lost under a backlog would hold a full batch for the whole linger."""
    topic = make_topic(kafka_bootstrap, unique_name("full_batches"))
    conn = KafkaConnection(bootstrap_servers=kafka_bootstrap)
    settings = ProducerSettings(client=client, linger_ms=60_000, batch_size=16_384)
    producer = open_producer(conn, topic, settings)
    acked: list[int] = []
    value = encode(LogEntry("full", "www_access", "2026-11-25T08:00:00+00:00", "x" * 1000))
    records = 4000  # about 250 batches of 16 records, sent far faster than acknowledged
    try:
        for n in range(records):
            producer.send(b"full", value, lambda error, n: error or acked.append(n), n)
        deadline = time.monotonic() + 20
        while len(acked) < records - 32 and time.monotonic() < deadline:
            producer.poll(0.05)
        assert len(acked) >= records - 32, f"{len(acked)} of {records} acknowledged"
        assert acked == list(range(len(acked)))
    finally:
        producer.flush(5)
        producer.close()

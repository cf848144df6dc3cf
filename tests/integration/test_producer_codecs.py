"""Every compression codec offered by --compression works against the real broker, with
both Kafka clients: records sent are read back intact."""

from __future__ import annotations

import pytest
from forwarder_support import CLIENTS, TopicReader, make_topic

from logpipe.envelope import LogEntry, encode
from logpipe.kafka import COMPRESSIONS, ProducerSettings, open_producer
from logpipe.settings import KafkaConnection

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

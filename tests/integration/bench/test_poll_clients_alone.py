"""The floor under kafka2cassandra's CPU, each of its clients alone (bench_poll.py's
``consumer`` and ``driver`` children), against the real servers: the consumer reads every
record of the topic, and the driver stores every row it counts. A floor that skipped work
would flatter the poller above it."""

from __future__ import annotations

import sys

import pytest

from logpipe.cassandra import Replication, Store
from logpipe.config.connections import CassandraConnection, KafkaConnection
from logpipe.envelope import encode
from logpipe.kafka import create_topic, open_producer
from tests.support.forwarder import CLIENTS
from tests.support.k2c import all_logs
from tests.support.paths import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import bench_poll

pytestmark = pytest.mark.integration

ROWS = 700


@pytest.mark.parametrize("client", CLIENTS)
def test_the_consumer_alone_reads_every_record(client, kafka_bootstrap, unique_name) -> None:
    topic = unique_name("consumer_alone")
    kafka = KafkaConnection(bootstrap_servers=kafka_bootstrap)
    create_topic(kafka, topic, partitions=3)
    producer = open_producer(kafka, topic)
    errors: list[BaseException] = []
    for entry in bench_poll.corpus_entries(ROWS):
        producer.send(entry.source.encode(), encode(entry), lambda e: e and errors.append(e))
    producer.flush(30)
    producer.close()
    assert not errors
    argv = ["--bootstrap", kafka_bootstrap, "--topic", topic, "--rows", str(ROWS)]
    result = bench_poll.run_child("consumer", [*argv, "--timeout", "60", "--kafka-client", client])
    assert result["rows"] == ROWS
    assert result["writing_rows"] == ROWS and result["cpu_seconds_writing"] > 0


def test_the_driver_alone_stores_every_row_it_counts(cassandra_contact_points, unique_name):
    name = unique_name("driver_alone")
    store = Store(CassandraConnection(contact_points=cassandra_contact_points))
    store.apply_schema(name, Replication.parse(1))
    try:
        argv = ["--contact-points", cassandra_contact_points, "--keyspace", name]
        result = bench_poll.run_child("driver", [*argv, "--rows", str(ROWS), "--timeout", "60"])
        assert result["rows"] == ROWS
        lines = sorted(all_logs(store, name))
        assert lines == sorted(e.log for e in bench_poll.corpus_entries(ROWS))
    finally:
        store.drop_keyspace(name)
        store.close()

"""kafka2cassandra against Kafka with SASL/SCRAM over TLS and Cassandra with a password
over TLS (the secure pair of services/), configured the Kubernetes way: password files
and environment variables. No password ever appears in the logs, even at debug level."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from logpipe.cassandra import Store
from logpipe.config.connections import CassandraConnection, KafkaConnection
from logpipe.envelope import encode
from logpipe.kafka import create_topic, open_producer
from tests.support.k2c import K2C, entries, wait_until

pytestmark = pytest.mark.integration


def test_schema_poll_and_query_over_sasl_tls_and_cassandra_auth(
    secure_services, unique_name, tmp_path
):
    sec = secure_services
    kafka = KafkaConnection(
        bootstrap_servers=sec.kafka["bootstrap_servers"],
        security_protocol=sec.kafka["security_protocol"],
        sasl_mechanism=sec.kafka["sasl_mechanism"],
        sasl_username=sec.kafka["username"],
        sasl_password=sec.password("kafka"),
        ca_file=sec.ca_file,
    )
    cassandra = CassandraConnection(
        contact_points=sec.cassandra["contact_points"],
        username=sec.cassandra["username"],
        password=sec.password("cassandra"),
        ca_file=sec.ca_file,
    )
    topic, ks, group = unique_name("secure"), unique_name("secure"), unique_name("secure")
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "KAFKA_SECURITY_PROTOCOL": sec.kafka["security_protocol"],
        "KAFKA_SASL_MECHANISM": sec.kafka["sasl_mechanism"],
        "KAFKA_SASL_USERNAME": sec.kafka["username"],
        "KAFKA_SASL_PASSWORD_FILE": sec.kafka["password_file"],
        "KAFKA_CA_FILE": sec.ca_file,
        "CASSANDRA_CONTACT_POINTS": cassandra.contact_points,
        "CASSANDRA_USERNAME": sec.cassandra["username"],
        "CASSANDRA_PASSWORD_FILE": sec.cassandra["password_file"],
        "CASSANDRA_CA_FILE": sec.ca_file,
        "CASSANDRA_KEYSPACE": ks,
        "KAFKA_TOPIC": topic,
        "LOG_LEVEL": "debug",
        "LOG_FORMAT": "json",
    }
    schema = subprocess.run(
        [str(K2C), "schema", "--replication-factor", "1"], env=env, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert schema.returncode == 0, schema.stderr
    sent = entries(500, sources=2)
    create_topic(kafka, topic, partitions=2)
    producer = open_producer(kafka, topic)
    for entry in sent:
        producer.send(entry.source.encode(), encode(entry), lambda exc: None)
    assert producer.flush(60)
    producer.close()

    log = tmp_path / "poller.log"
    with open(log, "wb") as out:
        poller = subprocess.Popen(
            [str(K2C), "poll", "--group-id", group, "--dlq-topic", f"{topic}_dlq"],
            env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    store = Store(cassandra)
    try:
        assert wait_until(lambda: store.count(ks, "www0", "www_access") == 250, 120)
        assert store.count(ks, "www1", "www_access") == 250
        query = subprocess.run(
            [str(K2C), "query", "--source", "www1", "--count"], env=env, capture_output=True,
            text=True, timeout=60,
        )  # fmt: skip
        assert query.returncode == 0, query.stderr
        assert query.stdout.strip() == "250"
    finally:
        poller.send_signal(signal.SIGTERM)
        assert poller.wait(30) == 0
        store.drop_keyspace(ks)
        store.close()

    output = log.read_text(errors="replace") + schema.stdout + schema.stderr + query.stderr
    assert '"tls": true' in output and '"user": "logpipe"' in output
    for secret in (sec.password("kafka"), sec.password("cassandra")):
        assert secret not in output

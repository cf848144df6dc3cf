"""kafka2cassandra against Kafka with SASL/SCRAM over TLS and Cassandra with a password
over TLS (the secure pair of services/), configured the Kubernetes way: password files
and environment variables. No password ever appears in the logs, even at debug level."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from logpipe.cassandra import Store
from logpipe.config.connections import CassandraConnection, KafkaConnection
from logpipe.envelope import encode
from logpipe.kafka import create_topic, open_producer
from tests.support.k2c import K2C, entries, wait_until

# One secure pair per session: its tests share the pytest worker that started it.
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("secure")]


@pytest.mark.parametrize("client", ["kafka-python", "confluent"])
def test_schema_poll_and_query_over_sasl_tls_and_cassandra_auth(
    client, secure_services, unique_name, tmp_path
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
        "KAFKA2CASSANDRA_KAFKA_CLIENT": client,
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
        # Each source is a partition of its own: one can be stored before the other.
        assert wait_until(
            lambda: [store.count(ks, s, "www_access") for s in ("www0", "www1")] == [250, 250],
            120,
        ), [store.count(ks, s, "www_access") for s in ("www0", "www1")]
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
    assert '"tls_verify_hostname": true' in output  # host names verified by default
    assert f'"kafka_client": "{client}"' in output
    for secret in (sec.password("kafka"), sec.password("cassandra")):
        assert secret not in output


@contextmanager
def relay(port: int, listen: str = "127.0.0.2") -> Iterator[int]:
    """A TCP relay from ``listen`` (an address the node's certificate does not name) to
    127.0.0.1:``port``: the same node, reached at another address."""
    server = socket.create_server((listen, 0))

    def pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = server.accept()
                upstream = socket.create_connection(("127.0.0.1", port))
                for ends in ((client, upstream), (upstream, client)):
                    threading.Thread(target=pipe, args=ends, daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


def test_a_node_certificate_for_another_address_is_refused_unless_told(
    secure_services, unique_name
):
    """The driver checks a node's certificate against the node's IP address (it connects
    to the addresses it resolves). Reached at 127.0.0.2, an address the certificate does
    not hold, the node is refused in one line; --cassandra-no-verify-hostname accepts
    it, with a warning at every start."""
    sec = secure_services
    port = int(sec.cassandra["contact_points"].rsplit(":", 1)[1])
    ks = unique_name("hostname")
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": sec.kafka["bootstrap_servers"],
        "KAFKA_SASL_MECHANISM": sec.kafka["sasl_mechanism"],
        "KAFKA_SASL_USERNAME": sec.kafka["username"],
        "KAFKA_SASL_PASSWORD_FILE": sec.kafka["password_file"],
        "KAFKA_CA_FILE": sec.ca_file,
        "CASSANDRA_USERNAME": sec.cassandra["username"],
        "CASSANDRA_PASSWORD_FILE": sec.cassandra["password_file"],
        "CASSANDRA_CA_FILE": sec.ca_file,
        "CASSANDRA_KEYSPACE": ks,
        "LOG_FORMAT": "json",
    }

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(K2C), *args], env={**env, **extra}, capture_output=True, text=True,
            timeout=120, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    with relay(port) as relayed:
        elsewhere = f"127.0.0.2:{relayed}"
        refused = run(
            "poll", "--group-id", unique_name("hostname"), CASSANDRA_CONTACT_POINTS=elsewhere
        )
        output = refused.stdout + refused.stderr
        assert refused.returncode == 1, output[-3000:]
        assert "Traceback" not in output
        errors = [line for line in output.splitlines() if '"ERROR"' in line]
        assert len(errors) == 1, output[-3000:]
        assert "refused the connection" in errors[0], errors[0]
        assert "127.0.0.2" in errors[0] and "certificate" in errors[0].lower(), errors[0]

        accepted = run(
            "schema", "--replication-factor", "1", CASSANDRA_CONTACT_POINTS=elsewhere,
            CASSANDRA_NO_VERIFY_HOSTNAME="true",
        )  # fmt: skip
    output = accepted.stdout + accepted.stderr
    assert accepted.returncode == 0, output[-3000:]
    assert "node host names are not verified (--cassandra-no-verify-hostname)" in output
    assert f"CREATE KEYSPACE IF NOT EXISTS {ks}" in output
    assert '"tls_verify_hostname": false' in output
    store = Store(
        CassandraConnection(
            contact_points=sec.cassandra["contact_points"],
            username=sec.cassandra["username"],
            password=sec.password("cassandra"),
            ca_file=sec.ca_file,
        )
    )
    try:
        store.drop_keyspace(ks)
    finally:
        store.close()

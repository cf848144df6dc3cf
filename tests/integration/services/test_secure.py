"""The secure services profile is really secure: clients get in with the right credentials
and the profile's CA, and are turned away with a wrong password, no TLS, or an untrusted
certificate.

This checks the servers themselves, so it talks to them with the client libraries directly.
"""

from __future__ import annotations

import logging
import ssl

import pytest
from cassandra import AuthenticationFailed
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster, NoHostAvailable
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaTimeoutError

# One secure pair per session: its tests share the pytest worker that started it.
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("secure")]

SYSTEM_CA = ssl.get_default_verify_paths().cafile


def _kafka_security(secure, password: str, cafile: str | None) -> dict:
    return {
        "bootstrap_servers": secure.kafka["bootstrap_servers"],
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": secure.kafka["sasl_mechanism"],
        "sasl_plain_username": secure.kafka["username"],
        "sasl_plain_password": password,
        "ssl_cafile": cafile,
    }


def test_kafka_client_with_credentials_produces_and_consumes(secure_services, unique_name):
    config = _kafka_security(
        secure_services, secure_services.password("kafka"), secure_services.ca_file
    )
    topic = unique_name("secure_topic")
    admin = KafkaAdminClient(**config)
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    producer = KafkaProducer(acks="all", **config)
    producer.send(topic, key=b"www2", value=b"a line").get(timeout=30)
    producer.close()
    consumer = KafkaConsumer(
        topic, group_id=unique_name("secure_group"), auto_offset_reset="earliest", **config
    )
    records = []
    for _ in range(30):
        for batch in consumer.poll(timeout_ms=1000).values():
            records.extend(batch)
        if records:
            break
    consumer.close()
    admin.delete_topics([topic])
    admin.close()
    assert [(r.key, r.value) for r in records] == [(b"www2", b"a line")]


def test_kafka_client_with_a_wrong_password_is_refused(secure_services):
    failures_before = secure_services.server_log("kafka").count("Failed authentication")
    config = _kafka_security(
        secure_services, secure_services.password("kafka") + "x", secure_services.ca_file
    )
    with pytest.raises(KafkaTimeoutError):
        KafkaAdminClient(bootstrap_timeout_ms=3000, **config)
    # the broker saw the attempt and turned it down for its credentials
    log = secure_services.server_log("kafka")
    assert log.count("Failed authentication") > failures_before
    assert "due to invalid credentials with SASL mechanism SCRAM-SHA-512" in log


def test_kafka_client_refuses_an_untrusted_certificate(secure_services, caplog):
    config = _kafka_security(secure_services, secure_services.password("kafka"), SYSTEM_CA)
    caplog.set_level(logging.WARNING, logger="kafka")
    with pytest.raises(KafkaTimeoutError):
        KafkaAdminClient(bootstrap_timeout_ms=3000, **config)
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text


def test_kafka_refuses_plaintext(secure_services):
    with pytest.raises(KafkaTimeoutError):
        KafkaAdminClient(
            bootstrap_servers=secure_services.kafka["bootstrap_servers"],
            bootstrap_timeout_ms=3000,
        )


def _cassandra(secure, password: str | None, cafile: str | None) -> Cluster:
    host, port = secure.cassandra["contact_points"].split(":")
    context = None
    if cafile is not None:
        context = ssl.create_default_context(cafile=cafile)
    auth = None
    if password is not None:
        auth = PlainTextAuthProvider(secure.cassandra["username"], password)
    return Cluster(
        [host], port=int(port), auth_provider=auth, ssl_context=context, connect_timeout=5
    )


def test_cassandra_client_with_credentials_queries(secure_services, unique_name):
    cluster = _cassandra(
        secure_services, secure_services.password("cassandra"), secure_services.ca_file
    )
    session = cluster.connect()
    keyspace = unique_name("secure_ks")
    session.execute(
        f"CREATE KEYSPACE {keyspace} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': '1'}"
    )
    session.execute(f"CREATE TABLE {keyspace}.t (k text PRIMARY KEY, v text)")
    session.execute(f"INSERT INTO {keyspace}.t (k, v) VALUES ('a', 'b')")
    assert session.execute(f"SELECT v FROM {keyspace}.t WHERE k = 'a'").one().v == "b"
    session.execute(f"DROP KEYSPACE {keyspace}")
    cluster.shutdown()


def test_cassandra_default_superuser_is_locked(secure_services):
    cluster = _cassandra(secure_services, "cassandra", secure_services.ca_file)
    cluster.auth_provider = PlainTextAuthProvider("cassandra", "cassandra")
    with pytest.raises(NoHostAvailable) as failure:
        cluster.connect()
    cluster.shutdown()
    assert any(isinstance(e, AuthenticationFailed) for e in failure.value.errors.values())


@pytest.mark.parametrize("case", ["wrong password", "no TLS", "untrusted certificate"])
def test_cassandra_client_is_refused(secure_services, case):
    right = secure_services.password("cassandra")
    if case == "wrong password":
        cluster = _cassandra(secure_services, right + "x", secure_services.ca_file)
    elif case == "no TLS":
        cluster = _cassandra(secure_services, right, None)
    else:
        cluster = _cassandra(secure_services, right, SYSTEM_CA)
    with pytest.raises(NoHostAvailable) as failure:
        cluster.connect()
    cluster.shutdown()
    errors = list(failure.value.errors.values())
    if case == "wrong password":
        assert any(isinstance(e, AuthenticationFailed) for e in errors)
    elif case == "untrusted certificate":
        assert any("CERTIFICATE_VERIFY_FAILED" in str(e) for e in errors)

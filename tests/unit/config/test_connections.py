"""Security rules of the connections: no credentials in clear unless allowed, host names
verified unless turned off (with a warning at every start), passwords from files or the
environment only."""

from __future__ import annotations

import logging

import pytest

from logpipe.config.connections import CassandraConnection, KafkaConnection

SECRET = "s3cr3t-pass-word"


def kafka_opts(**extra: object) -> dict[str, object]:
    return {"bootstrap_servers": "k:9093", **extra}


def cassandra_opts(**extra: object) -> dict[str, object]:
    return {"contact_points": "c", "keyspace": "ks", **extra}


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_without_tls_is_refused_with_the_way_out(mechanism: str) -> None:
    with pytest.raises(ValueError) as raised:
        KafkaConnection(sasl_mechanism=mechanism, sasl_username="u", sasl_password=SECRET)
    message = str(raised.value)
    assert "in clear" in message and "--kafka-ca-file" in message
    assert "--allow-plaintext-credentials" in message


def test_an_explicit_sasl_plaintext_protocol_is_refused_too() -> None:
    with pytest.raises(ValueError, match="allow-plaintext-credentials"):
        KafkaConnection(security_protocol="sasl_plaintext", sasl_mechanism="PLAIN")


def test_a_cassandra_user_without_tls_is_refused() -> None:
    with pytest.raises(ValueError, match="--cassandra-ca-file"):
        CassandraConnection(username="logpipe", password=SECRET)


def test_credentials_over_tls_or_when_allowed_are_accepted() -> None:
    KafkaConnection(sasl_mechanism="PLAIN", sasl_username="u", ca_file="/ca.pem")
    KafkaConnection(security_protocol="SASL_SSL", sasl_mechanism="PLAIN", sasl_username="u")
    CassandraConnection(username="u", ca_file="/ca.pem")
    conn = KafkaConnection(sasl_mechanism="PLAIN", allow_plaintext_credentials=True)
    assert conn.protocol() == "SASL_PLAINTEXT"
    CassandraConnection(username="u", allow_plaintext_credentials=True)


def test_from_options_refuses_and_allows_by_the_switch() -> None:
    with pytest.raises(ValueError, match="in clear"):
        KafkaConnection.from_options(kafka_opts(kafka_sasl_mechanism="PLAIN"))
    with pytest.raises(ValueError, match="in clear"):
        CassandraConnection.from_options(cassandra_opts(cassandra_username="u"))
    allowed = {"allow_plaintext_credentials": True}
    assert KafkaConnection.from_options(kafka_opts(kafka_sasl_mechanism="PLAIN", **allowed))
    assert CassandraConnection.from_options(cassandra_opts(cassandra_username="u", **allowed))


def test_host_names_are_verified_by_default() -> None:
    assert KafkaConnection.from_options(kafka_opts(kafka_ca_file="/ca")).verify_hostname
    assert CassandraConnection.from_options(cassandra_opts(cassandra_ca_file="/ca")).verify_hostname


def test_every_weakened_check_is_a_warning_at_start(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="logpipe"):
        kafka = KafkaConnection.from_options(
            kafka_opts(kafka_ca_file="/ca", kafka_no_verify_hostname=True)
        )
        cassandra = CassandraConnection.from_options(
            cassandra_opts(cassandra_ca_file="/ca", cassandra_no_verify_hostname=True)
        )
        KafkaConnection.from_options(
            kafka_opts(kafka_sasl_mechanism="PLAIN", allow_plaintext_credentials=True)
        )
        CassandraConnection.from_options(
            cassandra_opts(cassandra_username="u", allow_plaintext_credentials=True)
        )
    assert not kafka.verify_hostname and not cassandra.verify_hostname
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 4, warnings
    assert "--kafka-no-verify-hostname" in warnings[0]
    assert "--cassandra-no-verify-hostname" in warnings[1]
    assert all("--allow-plaintext-credentials" in w for w in warnings[2:])


def test_nothing_is_said_when_nothing_is_weakened(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="logpipe"):
        KafkaConnection.from_options(kafka_opts(kafka_ca_file="/ca"))
        CassandraConnection.from_options(cassandra_opts())
        # Without TLS there is no host name to verify: the switch changes nothing.
        KafkaConnection.from_options(kafka_opts(kafka_no_verify_hostname=True))
    assert not caplog.records


def test_passwords_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", SECRET)
    monkeypatch.setenv("CASSANDRA_PASSWORD", SECRET + "c")
    kafka = KafkaConnection.from_options(
        kafka_opts(kafka_sasl_mechanism="PLAIN", kafka_sasl_username="u", kafka_ca_file="/ca")
    )
    cassandra = CassandraConnection.from_options(
        cassandra_opts(cassandra_username="u", cassandra_ca_file="/ca")
    )
    assert kafka.sasl_password == SECRET
    assert cassandra.password == SECRET + "c"


def test_a_password_file_wins_over_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("CASSANDRA_PASSWORD", "from-env")
    secret = tmp_path / "password"
    secret.write_text(SECRET + "\n")
    conn = CassandraConnection.from_options(
        cassandra_opts(
            cassandra_username="u", cassandra_ca_file="/ca", cassandra_password_file=str(secret)
        )
    )
    assert conn.password == SECRET


def test_an_option_named_like_the_password_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the variable or the file count: nothing on a command line could carry it."""
    monkeypatch.delenv("KAFKA_SASL_PASSWORD", raising=False)
    conn = KafkaConnection.from_options(
        kafka_opts(kafka_sasl_password="given", kafka_sasl_username="u", kafka_ca_file="/ca",
                   kafka_sasl_mechanism="PLAIN")
    )  # fmt: skip
    assert conn.sasl_password is None

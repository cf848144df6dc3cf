"""Client configuration from a KafkaConnection: security options and secret hiding."""

from __future__ import annotations

import logging

import pytest

from logpipe.config.connections import KafkaConnection
from logpipe.kafka import (
    ProducerSettings,
    build_client_config,
    build_confluent_config,
    redact,
)
from logpipe.logs2kafka.setup import producer_factory

SECRET = "s3cr3t-pass-word"


def test_plaintext_by_default():
    config = build_client_config(KafkaConnection(bootstrap_servers="a:9092, b:9093"))
    assert config == {"bootstrap_servers": ["a:9092", "b:9093"], "security_protocol": "PLAINTEXT"}


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_mechanisms(mechanism):
    conn = KafkaConnection(
        sasl_mechanism=mechanism.lower(),
        sasl_username="shipper",
        sasl_password=SECRET,
        allow_plaintext_credentials=True,
    )
    config = build_client_config(conn)
    assert config["security_protocol"] == "SASL_PLAINTEXT"
    assert config["sasl_mechanism"] == mechanism
    assert config["sasl_plain_username"] == "shipper"
    assert config["sasl_plain_password"] == SECRET


def test_sasl_over_tls_with_ca():
    conn = KafkaConnection(
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="u",
        sasl_password=SECRET,
        ca_file="/etc/ca.pem",
    )
    config = build_client_config(conn)
    assert config["security_protocol"] == "SASL_SSL"
    assert config["ssl_cafile"] == "/etc/ca.pem"
    assert config["ssl_check_hostname"] is True


def test_host_name_verification_can_be_turned_off_for_both_clients():
    conn = KafkaConnection(ca_file="/ca.pem", verify_hostname=False)
    assert build_client_config(conn)["ssl_check_hostname"] is False
    assert build_confluent_config(conn)["ssl.endpoint.identification.algorithm"] == "none"
    verified = build_confluent_config(KafkaConnection(ca_file="/ca.pem"))
    assert verified["ssl.endpoint.identification.algorithm"] == "https"


def test_mutual_tls():
    conn = KafkaConnection(ca_file="/ca.pem", cert_file="/c.pem", key_file="/k.pem")
    config = build_client_config(conn)
    assert config["security_protocol"] == "SSL"
    assert (config["ssl_cafile"], config["ssl_certfile"], config["ssl_keyfile"]) == (
        "/ca.pem",
        "/c.pem",
        "/k.pem",
    )
    assert "sasl_mechanism" not in config


def test_sasl_without_password_is_refused():
    with pytest.raises(ValueError, match="password"):
        build_client_config(
            KafkaConnection(sasl_mechanism="PLAIN", sasl_username="u", ca_file="/ca.pem")
        )


def test_explicit_sasl_protocol_needs_mechanism():
    with pytest.raises(ValueError, match="mechanism"):
        build_client_config(KafkaConnection(security_protocol="sasl_ssl"))


def test_confluent_names():
    conn = KafkaConnection(
        bootstrap_servers="k1:9092,k2:9092",
        sasl_mechanism="SCRAM-SHA-256",
        sasl_username="u",
        sasl_password=SECRET,
        ca_file="/ca.pem",
    )
    config = build_confluent_config(conn)
    assert config == {
        "bootstrap.servers": "k1:9092,k2:9092",
        "security.protocol": "sasl_ssl",
        "sasl.mechanism": "SCRAM-SHA-256",
        "sasl.username": "u",
        "sasl.password": SECRET,
        "ssl.ca.location": "/ca.pem",
        "ssl.endpoint.identification.algorithm": "https",
    }


def test_redact_hides_passwords_only():
    conn = KafkaConnection(
        sasl_mechanism="PLAIN", sasl_username="u", sasl_password=SECRET, ca_file="/ca.pem"
    )
    shown = redact(build_client_config(conn))
    assert SECRET not in repr(shown)
    assert shown["sasl_plain_username"] == "u"
    assert SECRET not in repr(redact(build_confluent_config(conn)))


def test_connection_repr_hides_password():
    conn = KafkaConnection(
        sasl_mechanism="PLAIN", sasl_username="u", sasl_password=SECRET, ca_file="/ca.pem"
    )
    assert SECRET not in repr(conn)
    assert SECRET not in str(conn)


def test_password_never_logged_when_the_producer_is_configured(caplog, tmp_path):
    secret_file = tmp_path / "password"
    secret_file.write_text(SECRET + "\n")
    opts = {
        "bootstrap_servers": "127.0.0.1:1",
        "topic": "t",
        "kafka_sasl_mechanism": "SCRAM-SHA-256",
        "kafka_sasl_username": "u",
        "kafka_sasl_password_file": str(secret_file),
        "kafka_ca_file": "/ca.pem",
        "compression": "lz4",
        "linger_ms": 5,
        "batch_size": 1000,
        "max_in_flight": 5,
        "kafka_client": "kafka-python",
    }
    with caplog.at_level(logging.DEBUG):
        producer_factory(opts)  # logs the configuration it will use; does not connect
    assert caplog.records, "the configuration is logged"
    text = caplog.text + repr([r.__dict__ for r in caplog.records])
    assert SECRET not in text
    assert "SCRAM-SHA-256" in text


@pytest.mark.parametrize(
    "kwargs",
    [
        {"compression": "brotli"},
        {"client": "librdkafka"},
        {"max_in_flight": 6},
        {"max_in_flight": 0},
        {"batch_size": 0},
    ],
)
def test_producer_settings_are_checked(kwargs):
    with pytest.raises(ValueError):
        ProducerSettings(**kwargs)


def test_every_compression_codec_is_installed():
    from kafka import codec

    assert codec.has_lz4() and codec.has_zstd() and codec.has_snappy() and codec.has_gzip()

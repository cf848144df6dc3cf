"""logs2kafka against Kafka with SASL/SCRAM over TLS (the secure services of services/),
configured the Kubernetes way: environment variables and a password file. The lines
arrive, and the password never appears in the output, even at debug level."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from logpipe.config.connections import KafkaConnection
from logpipe.kafka import create_topic
from tests.support.forwarder import CLIENTS, LOGS2KAFKA, TopicReader, access_line

# One secure pair per session: its tests share the pytest worker that started it.
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("secure")]


def _connection(sec) -> KafkaConnection:
    return KafkaConnection(
        bootstrap_servers=sec.kafka["bootstrap_servers"],
        security_protocol=sec.kafka["security_protocol"],
        sasl_mechanism=sec.kafka["sasl_mechanism"],
        sasl_username=sec.kafka["username"],
        sasl_password=sec.password("kafka"),
        ca_file=sec.ca_file,
    )


def _env(sec, topic: str, client: str) -> dict[str, str]:
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": sec.kafka["bootstrap_servers"],
        "KAFKA_SECURITY_PROTOCOL": sec.kafka["security_protocol"],
        "KAFKA_SASL_MECHANISM": sec.kafka["sasl_mechanism"],
        "KAFKA_SASL_USERNAME": sec.kafka["username"],
        "KAFKA_SASL_PASSWORD_FILE": sec.kafka["password_file"],
        "KAFKA_CA_FILE": sec.ca_file,
        "KAFKA_TOPIC": topic,
        "LOGS2KAFKA_KAFKA_CLIENT": client,
        "LOGS2KAFKA_SOURCE": "secure",
        "LOG_LEVEL": "debug",
        "LOG_FORMAT": "json",
    }


@pytest.mark.parametrize("client", CLIENTS)
def test_ship_and_tail_over_sasl_scram_tls(client, secure_services, unique_name, tmp_path):
    sec = secure_services
    conn = _connection(sec)
    password = sec.password("kafka")
    topic = unique_name(f"secure_{client}")
    create_topic(conn, topic, partitions=1)
    env = _env(sec, topic, client)

    shipped = tmp_path / "old.log"
    shipped.write_bytes(b"".join(access_line("ship", n) for n in range(200)))
    done = subprocess.run(
        [LOGS2KAFKA, "ship", str(shipped)],
        env=env,
        capture_output=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]

    followed = tmp_path / "access.log"
    followed.write_bytes(b"".join(access_line("tail", n) for n in range(100)))
    log = tmp_path / "tail.log"
    with open(log, "wb") as out:
        tail = subprocess.Popen(
            [LOGS2KAFKA, "tail", str(followed), "--from-beginning"],
            env={**env, "LOGS2KAFKA_STATE_DIR": str(tmp_path / "state")},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    reader = TopicReader(sec.kafka["bootstrap_servers"], topic, conn)
    try:
        entries = reader.wait_count(300, 60)
        tail.send_signal(signal.SIGTERM)
        assert tail.wait(30) == 0
    finally:
        if tail.poll() is None:
            tail.kill()
        reader.close()
    assert len(entries) == 300
    assert {e.source for e in entries} == {"secure"}
    output = done.stdout + done.stderr + log.read_bytes()
    assert b"SCRAM" in output  # the configuration was logged ...
    assert password.encode() not in output  # ... without the password


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("command", ["tail", "ship"])
def test_refused_credentials_or_certificate_end_with_one_clear_error(
    client, command, secure_services, unique_name, tmp_path
):
    """A wrong password or an untrusted broker certificate will not fix itself: the
    command says so in one line and exits non-zero, instead of waiting for Kafka."""
    sec = secure_services
    log = tmp_path / "access.log"
    log.write_bytes(access_line("x", 0))
    wrong_password = tmp_path / "wrong-password"
    wrong_password.write_text("not-the-password\n")
    cases = {
        "password": ({"KAFKA_SASL_PASSWORD_FILE": str(wrong_password)}, "authentication"),
        "certificate": ({"KAFKA_CA_FILE": "/etc/ssl/certs/ca-certificates.crt"}, "certificate"),
    }
    for overrides, word in cases.values():
        env = {
            **_env(sec, unique_name("refused"), client),
            "LOGS2KAFKA_STATE_DIR": str(tmp_path / "state"),
            **overrides,
        }
        argv = [LOGS2KAFKA, command, str(log)]
        done = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=150, stdin=subprocess.DEVNULL
        )
        output = done.stdout + done.stderr
        assert done.returncode == 1, output[-3000:]
        assert "Traceback" not in output
        last = output.strip().splitlines()[-1]
        assert last.startswith("Error: Kafka at") and word in last.lower(), last
        assert "not-the-password" not in output and sec.password("kafka") not in output


@pytest.mark.parametrize("client", CLIENTS)
def test_a_broker_certificate_for_another_name_is_refused_unless_told(
    client, secure_services, unique_name, tmp_path
):
    """The broker's certificate names 127.0.0.1 and localhost. Reached as ``127.1`` (the
    same address, a name the certificate does not hold) the host name check refuses it,
    in one line; --kafka-no-verify-hostname accepts it, with a warning at start."""
    sec = secure_services
    port = sec.kafka["bootstrap_servers"].rsplit(":", 1)[1]
    topic = unique_name("hostname")
    create_topic(_connection(sec), topic, partitions=1)
    log = tmp_path / "access.log"
    log.write_bytes(b"".join(access_line("hostname", n) for n in range(10)))
    env = {**_env(sec, topic, client), "KAFKA_BOOTSTRAP_SERVERS": f"127.1:{port}"}
    env["LOG_LEVEL"] = "info"

    def ship(**extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [LOGS2KAFKA, "ship", str(log)], env={**env, **extra}, capture_output=True,
            text=True, timeout=90, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    refused = ship()
    output = refused.stdout + refused.stderr
    assert refused.returncode == 1, output[-3000:]
    assert "Traceback" not in output
    last = output.strip().splitlines()[-1]
    assert last.startswith("Error: Kafka at") and "certificate" in last.lower(), last

    accepted = ship(KAFKA_NO_VERIFY_HOSTNAME="true")
    output = accepted.stdout + accepted.stderr
    assert accepted.returncode == 0, output[-3000:]
    assert "broker host names are not verified (--kafka-no-verify-hostname)" in output
    reader = TopicReader(sec.kafka["bootstrap_servers"], topic, _connection(sec))
    try:
        assert len(reader.wait_count(10, 60)) == 10
    finally:
        reader.close()

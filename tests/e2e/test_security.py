"""Both daemons against a Kafka that requires SASL/SCRAM over TLS and a Cassandra that
requires a password over client TLS (``services/ctl --secure``).

Credentials come from environment variables and from files, as a Kubernetes Secret
would provide them. Wrong credentials and an untrusted certificate end in one clear
error line and a non-zero exit, not a traceback loop; no password is ever logged.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from logpipe.cassandra import Replication, Store
from logpipe.config.connections import CassandraConnection, KafkaConnection
from tests.e2e.harness import Daemon, prepare
from tests.support.layout import suite_bucket
from tests.support.paths import ROOT

# One secure pair per session: its tests share the pytest worker that started it.
pytestmark = pytest.mark.xdist_group("secure")

BIN = Path(sys.executable).parent
ROOT = ROOT


def kafka_env(secure, password_file: str | None = None) -> dict[str, str]:
    kafka = secure.kafka
    return {
        "KAFKA_BOOTSTRAP_SERVERS": kafka["bootstrap_servers"],
        "KAFKA_SASL_MECHANISM": kafka["sasl_mechanism"],
        "KAFKA_SASL_USERNAME": kafka["username"],
        "KAFKA_SASL_PASSWORD_FILE": password_file or kafka["password_file"],
        "KAFKA_CA_FILE": secure.ca_file,
    }


def cassandra_env(secure, password: str | None = None) -> dict[str, str]:
    return {
        "CASSANDRA_CONTACT_POINTS": secure.cassandra["contact_points"],
        "CASSANDRA_USERNAME": secure.cassandra["username"],
        "CASSANDRA_PASSWORD": password if password is not None else secure.password("cassandra"),
        "CASSANDRA_CA_FILE": secure.ca_file,
    }


def connections(secure, keyspace: str) -> tuple[KafkaConnection, CassandraConnection]:
    kafka = KafkaConnection(
        bootstrap_servers=secure.kafka["bootstrap_servers"],
        sasl_mechanism=secure.kafka["sasl_mechanism"],
        sasl_username=secure.kafka["username"],
        sasl_password=secure.password("kafka"),
        ca_file=secure.ca_file,
    )
    cassandra = CassandraConnection(
        contact_points=secure.cassandra["contact_points"],
        keyspace=keyspace,
        username=secure.cassandra["username"],
        password=secure.password("cassandra"),
        ca_file=secure.ca_file,
    )
    return kafka, cassandra


def run_until_exit(argv: list[str], env: dict[str, str], timeout: float = 90) -> tuple[int, str]:
    result = subprocess.run(
        argv,
        env={**os.environ, **env, "LOG_FORMAT": "json", "LOG_LEVEL": "info"},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return result.returncode, result.stdout + result.stderr


def assert_one_clear_error(code: int, output: str, *words: str) -> None:
    assert code != 0, output
    assert "Traceback" not in output, output[-3000:]
    errors = [line for line in output.splitlines() if '"ERROR"' in line or "error" in line]
    assert errors, output[-3000:]
    text = output.lower()
    assert any(word in text for word in words), output[-3000:]


@pytest.mark.e2e
def test_pipeline_runs_with_credentials_and_never_logs_them(
    secure_services, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    secure = secure_services
    topic, keyspace, group = unique_name("sec"), unique_name("sec_ks"), unique_name("sec_g")
    kafka, cassandra = connections(secure, keyspace)
    prepare(kafka, cassandra, topic, f"{topic}_dlq", partitions=2)

    lines = (ROOT / "tests/data/access-combined-real.log").read_bytes().splitlines()[:200]
    log = tmp_path / "access.log"
    log.write_bytes(b"\n".join(lines) + b"\n")
    env = {**kafka_env(secure), **cassandra_env(secure), "LOG_LEVEL": "debug"}
    shipper = Daemon(
        "logs2kafka",
        [
            str(BIN / "logs2kafka"),
            "tail",
            str(log),
            "--source",
            "secure-www",
            "--topic",
            topic,
            "--state-dir",
            str(tmp_path / "state"),
            "--from-beginning",
        ],
        tmp_path,
        env,
    )
    poller = Daemon(
        "kafka2cassandra",
        [
            str(BIN / "kafka2cassandra"),
            "poll",
            "--topic",
            topic,
            "--keyspace",
            keyspace,
            "--group-id",
            group,
            "--dlq-topic",
            f"{topic}_dlq",
            "--consistency",
            "ONE",
            # One row per line even when a message is delivered twice (a producer retry
            # or a redelivery on a loaded machine): what this test counts.
            "--log-id",
            "event",
        ],
        tmp_path,
        env,
    )
    shipper.env["LOG_LEVEL"] = poller.env["LOG_LEVEL"] = "debug"
    shipper.start()
    poller.start()
    try:
        deadline = time.monotonic() + 120
        count = 0
        with Store(cassandra, consistency="ONE") as store:
            while time.monotonic() < deadline:
                assert shipper.alive(), shipper.output()[-3000:]
                assert poller.alive(), poller.output()[-3000:]
                count = store.count(keyspace, "secure-www", "www_access")
                if count >= len(lines):
                    break
                time.sleep(1)
        assert count == len(lines)
        assert shipper.terminate() == 0
        assert poller.terminate() == 0
    finally:
        for daemon in (shipper, poller):
            if daemon.alive():
                daemon.kill9()
    for daemon in (shipper, poller):
        output = daemon.output()
        for secret in (secure.password("kafka"), secure.password("cassandra")):
            assert secret not in output, f"{daemon.name} logged a password"


@pytest.mark.e2e
def test_wrong_kafka_password_is_one_clear_error_and_a_non_zero_exit(
    secure_services, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not-the-password\n")
    log = tmp_path / "access.log"
    log.write_bytes(b"")
    code, output = run_until_exit(
        [
            str(BIN / "logs2kafka"),
            "tail",
            str(log),
            "--state-dir",
            str(tmp_path / "state"),
            "--topic",
            "www_logs",
        ],
        kafka_env(secure_services, password_file=str(wrong)),
    )
    assert_one_clear_error(code, output, "authentication", "sasl")
    assert "not-the-password" not in output
    keyspace = "sec_wrong_kafka"
    with Store(connections(secure_services, keyspace)[1]) as store:
        store.apply_schema(keyspace, Replication.parse(1), bucket=suite_bucket())
    code, output = run_until_exit(
        [
            str(BIN / "kafka2cassandra"),
            "poll",
            "--group-id",
            "sec_wrong_kafka",
            "--keyspace",
            keyspace,
        ],
        {**kafka_env(secure_services, password_file=str(wrong)), **cassandra_env(secure_services)},
    )
    assert_one_clear_error(code, output, "authentication", "sasl")
    assert "not-the-password" not in output


@pytest.mark.e2e
def test_wrong_cassandra_password_is_one_clear_error_and_a_non_zero_exit(
    secure_services, tmp_path: Path
) -> None:
    code, output = run_until_exit(
        [str(BIN / "kafka2cassandra"), "poll", "--group-id", "sec_wrong"],
        {**kafka_env(secure_services), **cassandra_env(secure_services, "not-the-password")},
    )
    assert_one_clear_error(code, output, "authentication", "credentials", "password")
    assert "not-the-password" not in output


@pytest.mark.e2e
def test_untrusted_certificate_is_one_clear_error_and_a_non_zero_exit(
    secure_services, tmp_path: Path
) -> None:
    other_ca = tmp_path / "other-ca.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=not-the-logpipe-ca",
            "-keyout",
            str(tmp_path / "k.pem"),
            "-out",
            str(other_ca),
        ],
        check=True,
        capture_output=True,
    )
    log = tmp_path / "access.log"
    log.write_bytes(b"")
    env = kafka_env(secure_services)
    env["KAFKA_CA_FILE"] = str(other_ca)
    code, output = run_until_exit(
        [str(BIN / "logs2kafka"), "tail", str(log), "--state-dir", str(tmp_path / "state")],
        env,
    )
    assert_one_clear_error(code, output, "certificate", "ssl", "tls")
    env = {**kafka_env(secure_services), **cassandra_env(secure_services)}
    env["CASSANDRA_CA_FILE"] = str(other_ca)
    code, output = run_until_exit(
        [str(BIN / "kafka2cassandra"), "poll", "--group-id", "sec_untrusted"], env
    )
    assert_one_clear_error(code, output, "certificate", "ssl", "tls")

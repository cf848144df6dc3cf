"""services/ctl writes complete server configurations from the profile's ports and folders
(no server is started here)."""

from __future__ import annotations

import itertools
import sys

import pytest

from tests.support.paths import ROOT

SERVICES = ROOT / "services"
sys.path.insert(0, str(SERVICES))

from control import profile, security, servers  # noqa: E402

OVERRIDES = {
    "LOGPIPE_KAFKA_PORT": "19092",
    "LOGPIPE_KAFKA_CONTROLLER_PORT": "19093",
    "LOGPIPE_CASSANDRA_PORT": "19042",
    "LOGPIPE_CASSANDRA_STORAGE_PORT": "17000",
}


@pytest.fixture
def moved(monkeypatch, tmp_path):
    for name, value in OVERRIDES.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LOGPIPE_SERVICES_DIR", str(tmp_path / "run"))
    return tmp_path / "run"


def test_profile_defaults_are_the_shared_pair(monkeypatch):
    others = ["SERVICES_DIR", "CASSANDRA_SSL_STORAGE_PORT", "KAFKA_HEAP", "CASSANDRA_HEAP"]
    for name in [*OVERRIDES, *(f"LOGPIPE_{other}" for other in others)]:
        monkeypatch.delenv(name, raising=False)
    p = profile.load()
    ports = (p.kafka_port, p.kafka_controller_port, p.cassandra_port, p.cassandra_storage_port)
    assert ports == (9092, 9093, 9042, 7000)
    assert p.run_dir == SERVICES / ".run"
    assert (p.kafka_heap, p.cassandra_heap) == ("512m", "1G")


def test_kafka_configuration_uses_the_overrides(moved):
    kafka = servers.Kafka(profile.load())
    target = moved / "server.properties"
    moved.mkdir()
    servers._render(profile.CONF_DIR / "kafka" / "server.properties", target, kafka._listeners())
    text = target.read_text()
    assert "${" not in text
    assert "listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093" in text
    assert "controller.quorum.voters=1@127.0.0.1:19093" in text
    assert f"log.dirs={moved / 'kafka' / 'data'}" in text
    assert "group.initial.rebalance.delay.ms=0" in text
    assert "delete.topic.enable=true" in text


def test_cassandra_configuration_uses_the_overrides(moved):
    cassandra = servers.Cassandra(profile.load())
    cassandra.dir.mkdir(parents=True)
    cassandra.prepare()
    text = (cassandra.dir / "cassandra.yaml").read_text()
    assert "${" not in text
    for line in (
        "native_transport_port: 19042",
        "storage_port: 17000",
        "ssl_storage_port: 17001",
        'seeds: "127.0.0.1:17000"',
        "num_tokens: 1",
        "auto_snapshot: false",
    ):
        assert line in text
    assert "PasswordAuthenticator" not in text


def test_cassandra_command_line_has_the_jdk17_flags_and_heap(moved, monkeypatch):
    monkeypatch.delenv("LOGPIPE_CASSANDRA_HEAP", raising=False)
    argv = servers.Cassandra(profile.load()).argv()
    assert argv[1:3] == ["-Xms1G", "-Xmx1G"]
    pairs = list(itertools.pairwise(argv))
    assert ("--add-opens", "java.base/java.lang=ALL-UNNAMED") in pairs
    assert ("--add-exports", "jdk.unsupported/sun.misc=ALL-UNNAMED") in pairs
    assert argv[-1] == "org.apache.cassandra.service.CassandraDaemon"
    assert "-Dcassandra.superuser_setup_delay_ms=0" not in argv


def test_secure_profile_is_apart_and_keeps_its_secrets_private(monkeypatch, tmp_path):
    monkeypatch.setenv("LOGPIPE_SECURE_SERVICES_DIR", str(tmp_path / "secure"))
    p = profile.load(secure=True)
    assert p.kafka_port != 9092 and p.cassandra_port != 9042
    properties = security.kafka_properties(p)
    assert "sasl.enabled.mechanisms=SCRAM-SHA-512" in properties
    yaml = security.cassandra_yaml(p)
    assert "authenticator: PasswordAuthenticator" in yaml
    assert "enabled: true" in yaml and "optional: false" in yaml
    secrets_dir = tmp_path / "secure" / "secrets"
    assert secrets_dir.stat().st_mode & 0o777 == 0o700
    assert all(f.stat().st_mode & 0o777 == 0o600 for f in secrets_dir.iterdir())
    # a password is made once and then kept
    assert security.secret(p, "kafka-admin") == security.secret(p, "kafka-admin")

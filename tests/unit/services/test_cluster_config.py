"""services/ctl --cluster writes each node's configuration: three Kafka voters with
production's replication defaults, three Cassandra nodes on 127.0.0.1-3 with a fixed token
each (no server is started here)."""

from __future__ import annotations

import sys

import pytest

from tests.support.paths import ROOT

sys.path.insert(0, str(ROOT / "services"))

from control import cluster, profile, servers


@pytest.fixture
def moved(monkeypatch, tmp_path):
    monkeypatch.setenv("LOGPIPE_CLUSTER_DIR", str(tmp_path / "cluster"))
    monkeypatch.setenv("LOGPIPE_CLUSTER_KAFKA_PORT", "39092")
    monkeypatch.setenv("LOGPIPE_CLUSTER_KAFKA_CONTROLLER_PORT", "39192")
    monkeypatch.setenv("LOGPIPE_CLUSTER_CASSANDRA_PORT", "39442")
    monkeypatch.setenv("LOGPIPE_CLUSTER_CASSANDRA_STORAGE_PORT", "37400")
    (tmp_path / "cluster").mkdir()
    return tmp_path / "cluster"


def test_defaults_stay_off_the_single_and_secure_pairs(monkeypatch):
    for name in ("DIR", "KAFKA_PORT", "KAFKA_CONTROLLER_PORT", "CASSANDRA_PORT",
                 "CASSANDRA_STORAGE_PORT"):  # fmt: skip
        monkeypatch.delenv(f"LOGPIPE_CLUSTER_{name}", raising=False)
    c = cluster.load_cluster()
    assert c.kafka_bootstrap() == "127.0.0.1:29092,127.0.0.1:29093,127.0.0.1:29094"
    assert (c.cassandra_port, c.storage_port) == (19442, 17400)
    assert c.run_dir == profile.SERVICES_DIR / ".run" / "cluster"
    taken = {9092, 9093, 9192, 9193, 9042, 9142, 7000, 7001, 7100, 7101}
    ours = {c.kafka_port + n for n in range(3)} | {c.controller_port + n for n in range(3)}
    assert not (ours | {c.cassandra_port, c.storage_port, c.storage_port + 1}) & taken


def test_kafka_node_is_one_of_three_voters_with_replication_three(moved):
    node = cluster.nodes(cluster.load_cluster())["kafka2"]
    target = moved / "server.properties"
    servers._render(profile.CONF_DIR / "kafka" / "server.properties", target, node._listeners())
    text = target.read_text()
    assert "${" not in text
    assert "node.id=2\n" in text
    voters = "1@127.0.0.1:39192,2@127.0.0.1:39193,3@127.0.0.1:39194"
    assert f"controller.quorum.voters={voters}\n" in text
    assert "listeners=PLAINTEXT://127.0.0.1:39093,CONTROLLER://127.0.0.1:39193" in text
    defaults = [
        "default.replication.factor=3",
        "min.insync.replicas=2",
        "offsets.topic.replication.factor=3",
        "transaction.state.log.min.isr=2",
    ]
    for line in defaults:
        assert f"{line}\n" in text
    assert f"log.dirs={moved / 'kafka2' / 'data'}" in text


def test_cassandra_nodes_take_their_address_and_an_even_token(moved):
    c = cluster.load_cluster()
    tokens = []
    for n in (1, 2, 3):
        node = cluster.nodes(c)[f"cassandra{n}"]
        assert (node.host, node.port) == (f"127.0.0.{n}", 39442)
        target = moved / f"cassandra{n}.yaml"
        servers._render(profile.CONF_DIR / "cassandra" / "cassandra.yaml", target, node._yaml())
        text = target.read_text()
        assert "${" not in text
        assert f"listen_address: 127.0.0.{n}\n" in text
        assert f"rpc_address: 127.0.0.{n}\n" in text
        assert 'seeds: "127.0.0.1:37400,127.0.0.2:37400,127.0.0.3:37400"' in text
        assert "auto_bootstrap: false" in text
        assert "hinted_handoff_enabled: true" in text
        assert "cluster_name: logpipe-cluster" in text
        tokens.append(int(text.split("initial_token: ")[1].split()[0]))
    assert tokens == sorted(tokens)
    gaps = {b - a for a, b in zip(tokens, [*tokens[1:], tokens[0] + 2**64], strict=True)}
    assert max(gaps) - min(gaps) <= 2

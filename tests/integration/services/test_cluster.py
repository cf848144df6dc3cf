"""services/ctl --cluster: three Kafka brokers in one KRaft quorum and a three-node
Cassandra ring, beside the single pair, with production's defaults: topics RF 3 with
min.insync.replicas=2, and `kafka2cassandra schema --replication-factor 3` makes a keyspace
of three replicas. (Nodes stopped and started: tests/e2e/test_cluster_faults.py.)

Tests on the cluster run one at a time (the ``local_cluster`` fixture holds a file lock;
they are also in the "cluster" xdist group), never while a node is down.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cassandra.cluster import Cluster
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from logpipe.cassandra.session import split_contact_points
from logpipe.config.connections import KafkaConnection
from logpipe.kafka import create_topic

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("cluster")]

K2C = Path(sys.executable).with_name("kafka2cassandra")


def _topic_layout(bootstrap: str, topic: str) -> tuple[list[int], str]:
    """Replica count of each partition, and the topic's effective min.insync.replicas."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        (described,) = admin.describe_topics([topic])
        replicas = [len(p["replica_nodes"]) for p in described["partitions"]]
        resource = ConfigResource(ConfigResourceType.TOPIC, topic)
        answer = admin.describe_configs([resource], config_filter="all")
        return replicas, answer["topic"][topic]["min.insync.replicas"]["value"]
    finally:
        admin.close()


def test_cluster_is_healthy_with_production_defaults(local_cluster, unique_name) -> None:
    state = local_cluster.status()
    assert state["health"] == {
        "kafka_brokers": [1, 2, 3],
        "cassandra_up_normal": 3,
        "healthy": True,
    }
    assert {row["state"] for row in state["nodes"].values()} == {"up"}
    assert sorted(state["nodes"]) == [
        *(f"cassandra{n}" for n in (1, 2, 3)),
        *(f"kafka{n}" for n in (1, 2, 3)),
    ]
    addresses = [state["nodes"][f"cassandra{n}"]["address"] for n in (1, 2, 3)]
    assert [a.split(":")[0] for a in addresses] == ["127.0.0.1", "127.0.0.2", "127.0.0.3"]

    topic = unique_name("cluster_defaults")
    create_topic(
        KafkaConnection(bootstrap_servers=local_cluster.kafka_bootstrap),
        topic,
        partitions=3,
        replication_factor=None,  # the brokers' default
    )
    layout = _topic_layout(local_cluster.kafka_bootstrap, topic)
    local_cluster.remove([topic])
    assert layout == ([3, 3, 3], "2")


def test_schema_command_makes_a_keyspace_of_three_replicas(local_cluster, unique_name) -> None:
    keyspace = unique_name("cluster_ks")
    contact = local_cluster.cassandra_contact_points
    schema = subprocess.run(
        [str(K2C), "schema", "--contact-points", contact, "--keyspace", keyspace,
         "--replication-factor", "3"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert schema.returncode == 0, schema.stderr
    hosts, port = split_contact_points(contact)
    cluster = Cluster(hosts, port=port)
    try:
        session = cluster.connect()
        replication = session.execute(
            "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s",
            (keyspace,),
        ).one()[0]
        assert replication["replication_factor"] == "3"
        # the three nodes agree on the schema, and it has the table
        assert cluster.control_connection.wait_for_schema_agreement(wait_time=30)
        assert list(cluster.metadata.keyspaces[keyspace].tables) == ["logs"]
        session.execute(f"DROP KEYSPACE {keyspace}")
    finally:
        cluster.shutdown()

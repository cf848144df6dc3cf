"""services/ctl --cluster: three Kafka brokers in one KRaft quorum and a three-node
Cassandra ring, beside the single pair; production's defaults (topics RF 3 with
min.insync.replicas=2, keyspace RF 3); one node of each stopped and started again by
itself, with acks=all and LOCAL_QUORUM writes going on meanwhile.

Tests here stop cluster nodes: they run one after another on one xdist worker (group
"cluster") with the other cluster tests, and leave the cluster healthy.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cassandra import ConsistencyLevel, Unavailable
from cassandra.cluster import Cluster, NoHostAvailable
from cassandra.query import SimpleStatement
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType

from logpipe.config.connections import KafkaConnection
from logpipe.kafka import create_topic
from tests.support.k2c import wait_until

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
    assert _topic_layout(local_cluster.kafka_bootstrap, topic) == ([3, 3, 3], "2")


def _write(session, keyspace: str, consistency: int, text: str) -> None:
    session.execute(
        SimpleStatement(
            f"INSERT INTO {keyspace}.logs (log_source, log_type, log_id, log, log_datetime)"
            " VALUES ('www2', 'www_access', now(), %s, '2018-08-08 17:44')",
            consistency_level=consistency,
        ),
        (text,),
    )


def _taken(session, keyspace: str, consistency: int, text: str) -> bool:
    try:
        _write(session, keyspace, consistency, text)
    except (Unavailable, NoHostAvailable):
        return False
    return True


def test_one_node_of_each_down_writes_go_on_then_it_rejoins(
    local_cluster, unique_name: Callable[[str], str]
) -> None:
    keyspace, topic = unique_name("cluster_ks"), unique_name("cluster_down")
    contact = local_cluster.cassandra_contact_points
    schema = subprocess.run(
        [str(K2C), "schema", "--contact-points", contact, "--keyspace", keyspace,
         "--replication-factor", "3"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert schema.returncode == 0, schema.stderr
    create_topic(
        KafkaConnection(bootstrap_servers=local_cluster.kafka_bootstrap),
        topic,
        partitions=3,
        replication_factor=None,
    )
    hosts = [point.split(":")[0] for point in contact.split(",")]
    cluster = Cluster(hosts, port=int(contact.split(",")[0].split(":")[1]))
    session = cluster.connect()
    producer = KafkaProducer(bootstrap_servers=local_cluster.kafka_bootstrap, acks="all")
    try:
        replication = session.execute(
            "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s",
            (keyspace,),
        ).one()[0]
        assert replication["replication_factor"] == "3"

        local_cluster.ctl("stop-kafka", "--node", "3")
        local_cluster.ctl("stop-cassandra", "--node", "3")
        state = local_cluster.status()
        assert state["health"]["kafka_brokers"] == [1, 2]
        assert not state["health"]["healthy"]
        assert state["nodes"]["kafka3"]["state"] == "down"
        assert state["nodes"]["cassandra3"]["state"] == "down"

        # acks=all with min.insync.replicas=2: two brokers of three still take writes
        for i in range(30):
            producer.send(topic, key=b"www2", value=b"line %d" % i).get(timeout=60)
        # LOCAL_QUORUM is two replicas of three: one node down, writes go on; ALL cannot
        for i in range(30):
            _write(session, keyspace, ConsistencyLevel.LOCAL_QUORUM, f"line {i}")
        with pytest.raises(Unavailable):
            _write(session, keyspace, ConsistencyLevel.ALL, "needs all three")
    finally:
        producer.close()
        restored = local_cluster.restore()
    assert restored["health"]["healthy"]
    assert sorted(restored["started"]) == ["cassandra3", "kafka3"]
    try:
        # back in the ring: a write needing all three replicas is taken again (once the
        # coordinator's failure detector has marked the node up: within seconds)
        assert wait_until(
            lambda: _taken(session, keyspace, ConsistencyLevel.ALL, "all three again"), 30
        )
        count = session.execute(
            SimpleStatement(
                f"SELECT count(*) FROM {keyspace}.logs WHERE log_source = 'www2'"
                " AND log_type = 'www_access'",
                consistency_level=ConsistencyLevel.LOCAL_QUORUM,
            )
        ).one()[0]
        assert count == 31
    finally:
        session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}")
        cluster.shutdown()

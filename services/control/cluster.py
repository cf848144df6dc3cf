"""The local cluster: three Kafka nodes (brokers and a controller quorum of three, KRaft
combined mode) and a three-node Cassandra ring on 127.0.0.1-3, beside the single pair.

Each node is a Server of servers.py with its own folder under the cluster's run folder
(LOGPIPE_CLUSTER_DIR), its own ports, and the same jars. Topics default to three replicas
with min.insync.replicas=2, like production. Cassandra nodes take an explicit, evenly
spaced token each and do not bootstrap, so an empty ring forms as soon as they gossip.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, replace
from pathlib import Path

from . import probes
from .profile import SERVICES_DIR, Profile, _int_env, _path_env, load
from .servers import HOST, Cassandra, Kafka, Server

SIZE = 3


@dataclass(frozen=True)
class ClusterProfile:
    """Ports and folders of the cluster, overridable by LOGPIPE_CLUSTER_* variables.

    Kafka node n (1-based) listens on kafka_port + n - 1 and its controller on
    controller_port + n - 1; Cassandra node n listens on 127.0.0.n, every node on the same
    native and storage ports.
    """

    base: Profile
    run_dir: Path
    kafka_port: int
    controller_port: int
    cassandra_port: int
    storage_port: int
    kafka_heap: str
    cassandra_heap: str

    @property
    def cache_dir(self) -> Path:
        return self.base.cache_dir

    @property
    def timeout(self) -> float:
        return self.base.timeout

    def address(self, node: int) -> str:
        return f"127.0.0.{node}"

    def kafka_bootstrap(self) -> str:
        return ",".join(f"{HOST}:{self.kafka_port + n}" for n in range(SIZE))

    def voters(self) -> str:
        return ",".join(f"{n + 1}@{HOST}:{self.controller_port + n}" for n in range(SIZE))

    def node_profile(self, node: int) -> Profile:
        """The single-pair profile of one node: its ports, heap, and the cluster's folder."""
        return replace(
            self.base,
            secure=False,
            run_dir=self.run_dir,
            kafka_port=self.kafka_port + node - 1,
            kafka_controller_port=self.controller_port + node - 1,
            cassandra_port=self.cassandra_port,
            cassandra_storage_port=self.storage_port,
            cassandra_ssl_storage_port=self.storage_port + 1,
            kafka_heap=self.kafka_heap,
            cassandra_heap=self.cassandra_heap,
        )


def load_cluster() -> ClusterProfile:
    return ClusterProfile(
        base=load(secure=False),
        run_dir=_path_env("LOGPIPE_CLUSTER_DIR", SERVICES_DIR / ".run" / "cluster"),
        kafka_port=_int_env("LOGPIPE_CLUSTER_KAFKA_PORT", 29092),
        controller_port=_int_env("LOGPIPE_CLUSTER_KAFKA_CONTROLLER_PORT", 29192),
        cassandra_port=_int_env("LOGPIPE_CLUSTER_CASSANDRA_PORT", 19442),
        storage_port=_int_env("LOGPIPE_CLUSTER_CASSANDRA_STORAGE_PORT", 17400),
        kafka_heap=os.environ.get("LOGPIPE_CLUSTER_KAFKA_HEAP", "320m"),
        cassandra_heap=os.environ.get("LOGPIPE_CLUSTER_CASSANDRA_HEAP", "640m"),
    )


class ClusterKafka(Kafka):
    """Kafka node n of three: broker and voter, in one JVM."""

    def __init__(self, cluster: ClusterProfile, node: int) -> None:
        self.cluster = cluster
        self.node = node
        self.name = f"kafka{node}"
        super().__init__(cluster.node_profile(node))

    def _listeners(self) -> dict[str, str]:
        values = super()._listeners()
        values.update(
            node_id=str(self.node),
            voters=self.cluster.voters(),
            replication=str(SIZE),
            min_isr="2",
        )
        return values

    def _cluster_id_file(self) -> Path:
        return self.cluster.run_dir / "kafka-cluster.id"


def token(node: int) -> int:
    """Node n's Murmur3 token: the ring split in three equal ranges."""
    return -(2**63) + (node - 1) * (2**64 // SIZE)


class ClusterCassandra(Cassandra):
    """Cassandra node n of three on 127.0.0.n, with a fixed token and every node a seed."""

    def __init__(self, cluster: ClusterProfile, node: int) -> None:
        self.cluster = cluster
        self.node = node
        self.name = f"cassandra{node}"
        self.host = cluster.address(node)
        super().__init__(cluster.node_profile(node))

    def _yaml(self) -> dict[str, str]:
        values = super()._yaml()
        seeds = ",".join(
            f"{self.cluster.address(n)}:{self.cluster.storage_port}" for n in range(1, SIZE + 1)
        )
        values.update(
            cluster_name="logpipe-cluster",
            address=self.host,
            seeds=seeds,
            memtable_space="64MiB",
            hinted_handoff="true",
            extra=f"initial_token: {token(self.node)}\nauto_bootstrap: false\n",
        )
        return values


def nodes(cluster: ClusterProfile) -> dict[str, Server]:
    """Every node by name: kafka1-3, cassandra1-3."""
    found: dict[str, Server] = {}
    for n in range(1, SIZE + 1):
        found[f"kafka{n}"] = ClusterKafka(cluster, n)
    for n in range(1, SIZE + 1):
        found[f"cassandra{n}"] = ClusterCassandra(cluster, n)
    return found


def _ring_view(host: str, port: int) -> list[str]:
    """The gossip status of every endpoint one Cassandra node knows: NORMAL when it has
    joined the ring, with "+cql" when it also announced its CQL port open."""
    rows = probes.cql_query_text(
        host, port, "SELECT status_with_port, rpc_ready FROM system_views.gossip_info"
    )
    return [(row[0] or "").split(",", 1)[0] + ("+cql" if row[1] == "true" else "") for row in rows]


def health(cluster: ClusterProfile) -> dict[str, object]:
    """The cluster as a client sees it: which Kafka brokers are registered (from any
    answering node) and answer, and how many Cassandra nodes are up and normal in every up
    node's view (what `nodetool status` would call UN)."""
    brokers: set[int] = set()
    for n in range(SIZE):
        try:
            info = probes.kafka_ready(HOST, cluster.kafka_port + n)
        except probes.ProbeError:
            continue
        # a broker killed a moment ago stays registered until its session expires (9 s):
        # count those that answer on their own port
        brokers = {node for node, host, port in info.brokers if probes.port_open(host, port)}
        break
    up_normal = 0
    views = {}
    for n in range(1, SIZE + 1):
        address = cluster.address(n)
        try:
            statuses = _ring_view(address, cluster.cassandra_port)
        except (OSError, probes.ProbeError, struct.error):
            continue
        views[address] = statuses
        up_normal += 1
    normal_everywhere = all(statuses.count("NORMAL+cql") == SIZE for statuses in views.values())
    ring = up_normal if normal_everywhere else 0
    return {
        "kafka_brokers": sorted(brokers),
        "cassandra_up_normal": ring,
        "healthy": len(brokers) == SIZE and ring == SIZE,
    }

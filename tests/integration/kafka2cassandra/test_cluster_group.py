"""kafka2cassandra replicas in one group on the cluster: six partitions (RF 3) shared by two,
then three replicas; under steady load one is killed with kill -9 and another added; every
row arrives once (event mode: a record read again after the kill overwrites its row).

Tests on the cluster run one at a time (the ``local_cluster`` fixture holds a file lock;
they are also in the "cluster" xdist group), never while a node is down.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from kafka import KafkaAdminClient

from logpipe.cassandra import Replication, Store
from logpipe.config.connections import CassandraConnection, KafkaConnection
from logpipe.kafka import create_topic
from tests.support.k2c import (
    all_logs,
    committed_offsets,
    end_offsets,
    entries,
    poller_args,
    poller_process,
    produce_entries,
    wait_until,
)
from tests.support.layout import suite_bucket

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("cluster")]

N = 9_000
PARTITIONS = 6
SESSION = "6"  # seconds: the broker's least (group.min.session.timeout.ms)


def _assignment(bootstrap: str, group: str, topic: str) -> list[list[int]]:
    """The partitions of ``topic`` each member of the stable group holds, sorted; [] while
    the group rebalances."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        described = admin.describe_groups([group])[group]
    finally:
        admin.close()
    if described["group_state"] != "Stable":
        return []
    held = []
    for member in described["members"]:
        assignment = member.get("member_assignment") or {}
        parts = [
            p
            for item in assignment.get("assigned_partitions", [])
            if item["topic"] == topic
            for p in item["partitions"]
        ]
        held.append(sorted(parts))
    return sorted(held)


def _shared(bootstrap: str, group: str, topic: str, members: int) -> bool:
    """``members`` replicas hold the six partitions, each a share of them, none twice."""
    held = _assignment(bootstrap, group, topic)
    every = sorted(p for parts in held for p in parts)
    sizes = {len(parts) for parts in held}
    return (
        len(held) == members
        and every == list(range(PARTITIONS))
        and sizes == {PARTITIONS // members}
    )


def test_replicas_share_partitions_one_killed_one_added(
    local_cluster, unique_name, tmp_path: Path
) -> None:
    bootstrap = local_cluster.kafka_bootstrap
    contact = local_cluster.cassandra_contact_points
    topic, ks, group = unique_name("cgroup"), unique_name("cgroup"), unique_name("cgroup")
    create_topic(
        KafkaConnection(bootstrap_servers=bootstrap),
        topic,
        partitions=PARTITIONS,
        replication_factor=None,
    )
    sent = entries(N, sources=24)
    args = poller_args(
        topic, ks, group, "--log-id", "event", "--consistency", "LOCAL_QUORUM",
        "--session-timeout", SESSION, "--shutdown-timeout", "15",
    )  # fmt: skip
    store = Store(CassandraConnection(contact_points=contact), consistency="ALL")
    store.apply_schema(ks, Replication.parse(3), bucket=suite_bucket())

    def replica(name: str):
        return poller_process(bootstrap, contact, *args, log_path=tmp_path / f"{name}.log")

    def trickle() -> None:  # about 30 s of traffic
        for start in range(0, N, 300):
            produce_entries(bootstrap, topic, sent[start : start + 300])
            time.sleep(1.0)

    replicas = {"a": replica("a"), "b": replica("b")}
    producer = threading.Thread(target=trickle)
    try:
        producer.start()
        assert wait_until(lambda: _shared(bootstrap, group, topic, 2), 60), _assignment(
            bootstrap, group, topic
        )
        replicas["c"] = replica("c")
        assert wait_until(lambda: _shared(bootstrap, group, topic, 3), 60)
        assert producer.is_alive(), "the load ended before the kill: make N larger"
        replicas["a"].kill()  # kill -9 under load
        replicas["a"].wait()
        assert wait_until(lambda: _shared(bootstrap, group, topic, 2), 60)
        replicas["d"] = replica("d")
        assert wait_until(lambda: _shared(bootstrap, group, topic, 3), 60)
        producer.join(120)
        end = end_offsets(bootstrap, topic)
        assert sum(end.values()) == N
        assert all(end.values()), f"a partition got no record: {end}"
        assert wait_until(lambda: committed_offsets(bootstrap, group, topic) == end, 90)
        for name in ("b", "c", "d"):
            assert replicas[name].poll() is None, (tmp_path / f"{name}.log").read_text()[-3000:]
    finally:
        for proc in replicas.values():
            if proc.poll() is None:
                proc.terminate()
        for name in ("b", "c", "d"):
            if name in replicas:
                assert replicas[name].wait(30) == 0, (tmp_path / f"{name}.log").read_text()[-3000:]
        producer.join(120)
    try:
        assert sorted(all_logs(store, ks)) == sorted(e.log for e in sent)
    finally:
        store.drop_keyspace(ks)
        store.close()
        local_cluster.remove([topic, f"{topic}_dlq"])

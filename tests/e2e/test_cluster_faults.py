"""Both daemons on the three-node cluster under steady load, in event mode, while nodes are
lost: kill -9, at the same moment, of the broker leading the partition being written and of
the Cassandra node that is the first replica of the rows, both started again; then a
rolling restart of the three brokers. Kafka writes are acks=all with
min.insync.replicas=2, Cassandra writes LOCAL_QUORUM with keyspace replication 3, so each
loss leaves a quorum: writes go on while the node is down, no daemon exits, and the end is
every line once.

Tests on the cluster run one at a time (the ``local_cluster`` fixture holds a file lock;
they are also in the "cluster" xdist group), and this one leaves the cluster healthy
(``local_cluster.restore()``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cassandra.cluster import Cluster
from cassandra.metadata import Murmur3Token
from kafka import KafkaAdminClient

from logpipe.cassandra.session import split_contact_points
from logpipe_testkit.ports import free_ports
from logpipe_testkit.traffic import LogWriter, load_lines
from tests.e2e.harness import Stage, empty_log, row_sequences, topic_sequences, wait_ready
from tests.support.k2c import committed_offsets, end_offsets, wait_until
from tests.support.layout import suite_bucket
from tests.support.paths import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("cluster")]

SOURCE = "www-cluster"
RATE = 300.0  # lines per second
DOWN = 5.0  # seconds a killed node stays down, under load


def _partitions(bootstrap: str, topic: str) -> list[dict]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        (described,) = admin.describe_topics([topic])
        return described["partitions"]
    finally:
        admin.close()


def _in_sync(bootstrap: str, topics: list[str]) -> bool:
    """Every partition of ``topics`` has its three replicas in sync again."""
    try:
        return all(
            len(p["isr_nodes"]) == 3 for topic in topics for p in _partitions(bootstrap, topic)
        )
    except Exception:  # a broker restarting: not yet
        return False


def _written_partition_leader(bootstrap: str, topic: str) -> int:
    """The broker leading the partition that receives the lines (one source: one key)."""
    ends = end_offsets(bootstrap, topic)
    busy = max(ends, key=ends.get)
    (partition,) = [p for p in _partitions(bootstrap, topic) if p["partition_index"] == busy]
    return partition["leader_id"]


def _first_replica(contact_points: str, keyspace: str) -> int:
    """The Cassandra node (1-3) owning the rows' partition: the first replica of its token."""
    hosts, port = split_contact_points(contact_points)
    cluster = Cluster(hosts, port=port)
    try:
        session = cluster.connect()
        key = "log_source, log_type" + (", bucket" if suite_bucket() else "")
        token = session.execute(
            f"SELECT token({key}) FROM {keyspace}.logs"
            " WHERE log_source = %s AND log_type = 'www_access' LIMIT 1 ALLOW FILTERING",
            (SOURCE,),
        ).one()[0]
        cluster.metadata.token_map.rebuild_keyspace(keyspace, build_if_absent=True)
        owner = cluster.metadata.token_map.get_replicas(keyspace, Murmur3Token(token))[0]
        return int(owner.address.rsplit(".", 1)[1])
    finally:
        cluster.shutdown()


def test_nodes_lost_under_load_lose_and_duplicate_nothing(
    local_cluster, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    bootstrap = local_cluster.kafka_bootstrap
    stage = Stage.prepared(
        bootstrap,
        local_cluster.cassandra_contact_points,
        unique_name,
        "cl",
        3,
        replication=3,
        create_dlq=False,  # the poller creates it, with the brokers' default replication
    )
    log_path = empty_log(tmp_path)
    run = unique_name("r").replace("_", "")
    l2k_port, k2c_port = free_ports(2)
    shipper = stage.shipper(
        "logs2kafka", [str(log_path)], SOURCE, tmp_path, "--metrics-port", str(l2k_port)
    )
    poller = stage.poller(
        "kafka2cassandra", tmp_path, "--log-id", "event", "--consistency", "LOCAL_QUORUM",
        "--metrics-port", str(k2c_port),
    )  # fmt: skip
    corpus = load_lines(ROOT / "tests/data/access-combined-real.log")
    writer = LogWriter(log_path, corpus, run, RATE)
    events: list[str] = []
    topics = [stage.topic, stage.dlq, "__consumer_offsets"]

    def alive(when: str) -> None:
        for daemon in (shipper, poller):
            assert daemon.alive(), f"{daemon.name} exited {when}:\n{daemon.output()[-3000:]}"

    def stored() -> int:
        return sum(committed_offsets(bootstrap, stage.group, stage.topic).values())

    def mark(what: str) -> None:
        events.append(f"{time.monotonic() - begin:5.1f} s {what}")

    begin = time.monotonic()
    try:
        poller.start()
        wait_ready(poller, k2c_port)
        shipper.start()
        wait_ready(shipper, l2k_port)
        writer.start()
        assert wait_until(lambda: stored() > RATE, 60), "no row stored before the faults"

        # 1. kill -9, at once, the broker leading the written partition and the Cassandra
        # node owning the rows: acks=all and LOCAL_QUORUM writes go on with two of three
        leader = _written_partition_leader(bootstrap, stage.topic)
        owner = _first_replica(local_cluster.cassandra_contact_points, stage.keyspace)
        local_cluster.kill9(f"kafka{leader}")
        local_cluster.kill9(f"cassandra{owner}")
        mark(f"kill -9 kafka{leader} (leader) and cassandra{owner} (first replica)")
        health = local_cluster.status()["health"]
        assert len(health["kafka_brokers"]) == 2 and not health["healthy"], health
        before = stored()
        assert wait_until(lambda: stored() > before + RATE * DOWN, 60), (
            f"no write stored with kafka{leader} and cassandra{owner} down"
        )
        mark(f"stored {stored() - before} rows with kafka{leader} and cassandra{owner} down")
        alive(f"with kafka{leader} and cassandra{owner} down")
        assert local_cluster.restore()["health"]["healthy"]
        mark(f"kafka{leader} and cassandra{owner} back, cluster healthy")
        assert wait_until(lambda: _in_sync(bootstrap, topics), 120)
        mark("replicas in sync")
        alive("after the restarts")

        # 3. rolling restart of the three brokers, each back in sync before the next
        for node in (1, 2, 3):
            local_cluster.ctl("stop-kafka", "--node", str(node))
            local_cluster.ctl("start-kafka", "--node", str(node))
            assert wait_until(lambda: _in_sync(bootstrap, topics), 120)
            mark(f"kafka{node} restarted, in sync")
            alive(f"after the restart of kafka{node}")

        written = writer.stop()
        wanted = set(range(written))
        assert wait_until(
            lambda: wanted <= set(row_sequences(stage.cassandra, stage.keyspace, SOURCE, run)),
            120,
            2.0,
        ), shipper.output()[-3000:]
        assert wait_until(
            lambda: (
                committed_offsets(bootstrap, stage.group, stage.topic)
                == end_offsets(bootstrap, stage.topic)
            ),
            60,
        )
        alive("at the end")
        for daemon in (shipper, poller):
            assert daemon.terminate() == 0, daemon.output()[-3000:]
    finally:
        writer.stop()
        for daemon in (shipper, poller):
            if daemon.alive():
                daemon.kill9()
        local_cluster.restore()

    rows = row_sequences(stage.cassandra, stage.keyspace, SOURCE, run)
    in_topic, records = topic_sequences(bootstrap, stage.topic, run)
    dlq = _partitions(bootstrap, stage.dlq)
    print(
        "\ncluster faults:\n  " + "\n  ".join(events) + f"\n  {written} lines written,"
        f" {records} records in the topic ({sum(1 for n in in_topic.values() if n > 1)}"
        f" lines sent twice), {sum(rows.values())} rows"
    )
    local_cluster.remove([stage.topic, stage.dlq], stage.keyspace)
    assert sorted(rows) == list(range(written)), "missing lines"
    assert sum(rows.values()) == written, {s: n for s, n in rows.items() if n > 1}
    assert [len(p["replica_nodes"]) for p in dlq] == [3], "dead-letter topic replication"

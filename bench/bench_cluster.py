"""What replication costs, and what one replica carries: kafka2cassandra and logs2kafka on
the local three-node cluster (``services/ctl --cluster``) beside the single pair, in one run.

Measured, each on a freshly filled six-partition topic, by ``kafka2cassandra poll``
processes (``--log-id now``, batches of 32 rows):

* single node (topic RF 1, keyspace RF 1) at ONE: the baseline;
* cluster (topic RF 3 with min.insync.replicas=2, keyspace RF 3) at ONE and at
  LOCAL_QUORUM, one replica;
* cluster at LOCAL_QUORUM with two and three replicas in one group: rows/s in total and
  per replica;
* ``logs2kafka ship`` of one file (lz4, acks=all) to each: lines/s and lines per CPU
  second of that process (what one core of a web host carries).

Each measurement starts its pollers on a new, empty topic; once the group is stable (all
replicas holding partitions) kcat produces the rows (a few seconds), and the rate counts the
rows written after kcat returned over the time they took, from the daemons' own
``kafka2cassandra_rows_written`` counters: joins and rebalances are left out, and the
pollers drain a backlog, as after a pause.

Rounds interleave the measurements (each round runs them all, in turn), and each figure is
the median over the rounds. Everything here shares two cores with the servers (six JVMs for
the cluster), so the numbers say what this machine does, not what a production host would.

    .venv/bin/python bench/bench_cluster.py [--rows 120000] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchkit as kit
from bench_poll import corpus_entries
from bench_ship import _shipped_record
from logpipe_testkit.ports import free_ports

ROOT = Path(__file__).resolve().parent.parent
CTL = ROOT / "services" / "ctl"
PARTITIONS = 6
WRITTEN = "kafka2cassandra_rows_written_total"


def cluster_endpoints() -> tuple[str, str]:
    """Bootstrap servers and contact points of the running (or now started) cluster."""
    out = subprocess.run(
        [sys.executable, str(CTL), "--json", "--cluster", "up"],
        check=True,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    answer = json.loads(out.stdout.strip().splitlines()[-1])
    return answer["kafka_bootstrap"], answer["cassandra_contact_points"]


class Target:
    """One set of servers: where the topic and keyspace go, and with what replication."""

    def __init__(self, name: str, bootstrap: str, contact_points: str, replication: int) -> None:
        self.name, self.bootstrap, self.contact_points = name, bootstrap, contact_points
        self.replication = replication
        self.topics: list[str] = []

    def topic(self) -> str:
        """A new, empty six-partition topic."""
        from logpipe.config.connections import KafkaConnection
        from logpipe.kafka import create_topic

        topic = f"bench_cluster_{uuid.uuid4().hex[:8]}"
        kafka = KafkaConnection(bootstrap_servers=self.bootstrap)
        create_topic(
            kafka,
            topic,
            partitions=PARTITIONS,
            replication_factor=None if self.replication > 1 else 1,
        )
        self.topics += [topic, f"{topic}_dlq"]
        return topic

    def keyspace(self) -> str:
        from logpipe.cassandra import Replication, Store
        from logpipe.config.connections import CassandraConnection

        name = f"bench_cluster_{uuid.uuid4().hex[:8]}"
        with Store(
            CassandraConnection(contact_points=self.contact_points), consistency="ALL"
        ) as store:
            store.apply_schema(name, Replication.parse(self.replication))
        return name

    def drop(self, keyspace: str) -> None:
        from logpipe.cassandra import Store
        from logpipe.config.connections import CassandraConnection

        try:
            with Store(CassandraConnection(contact_points=self.contact_points)) as store:
                store.drop_keyspace(keyspace)
        except Exception as exc:  # the measurement stands; the keyspace is left behind
            print(f"could not drop {keyspace} on {self.name}: {exc}", file=sys.stderr)


def write_payload(path: Path, rows: int) -> Path:
    """``rows`` envelopes of the real corpus, as ``kcat -K '\t'`` reads them: the key (the
    source: one of 60 hosts, so six partitions get even shares), a tab, the envelope."""
    from logpipe.envelope import encode

    with path.open("wb") as out:
        for i, entry in enumerate(corpus_entries(rows)):
            source = f"www{i % 60}"
            entry = replace(entry, source=source)
            out.write(source.encode() + b"\t" + encode(entry) + b"\n")
    return path


def produce(target: Target, topic: str, payload: Path) -> None:
    """The payload into ``topic`` with librdkafka (kcat, acks=all): in a second or two, so
    the pollers drain a backlog rather than wait for a producer."""
    subprocess.run(
        [
            "/usr/bin/kcat", "-P", "-b", target.bootstrap, "-t", topic, "-K", "\t",
            "-z", "lz4", "-X", "acks=all", "-X", "partitioner=murmur2_random", "-l", payload,
        ],
        check=True,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def _group_stable(bootstrap: str, group: str, members: int) -> bool:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        described = admin.describe_groups([group])[group]
    finally:
        admin.close()
    if described["group_state"] != "Stable" or len(described["members"]) != members:
        return False
    held = 0
    for member in described["members"]:
        assignment = member.get("member_assignment") or {}
        held += sum(len(item["partitions"]) for item in assignment.get("assigned_partitions", []))
    return held == PARTITIONS


def pollers(
    target: Target, payload: Path, rows: int, consistency: str, replicas: int
) -> dict[str, Any]:
    """rows/s of ``replicas`` kafka2cassandra processes in one group storing ``rows``
    records produced (by kcat) once all of them hold partitions of the empty topic."""
    topic = target.topic()
    keyspace = target.keyspace()
    group = f"bench_cluster_{uuid.uuid4().hex[:8]}"
    ports = free_ports(replicas)
    procs = []
    try:
        for port in ports:
            procs.append(
                subprocess.Popen(
                    [
                        str(kit.BIN / "kafka2cassandra"), "poll",
                        "--bootstrap-servers", target.bootstrap,
                        "--contact-points", target.contact_points,
                        "--topic", topic, "--dlq-topic", f"{topic}_dlq",
                        "--keyspace", keyspace, "--group-id", group,
                        "--consistency", consistency, "--log-id", "now",
                        "--metrics-port", str(port), "--log-level", "warning",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    stdin=subprocess.DEVNULL,
                )
            )  # fmt: skip

        def written() -> float:
            total = 0.0
            for port in ports:
                with contextlib.suppress(Exception):  # not listening yet
                    total += kit.scrape(port, WRITTEN)
            return total

        deadline = time.monotonic() + 600
        while not _group_stable(target.bootstrap, group, replicas):
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                raise RuntimeError(f"group {group} never held all partitions")
            time.sleep(0.1)
        cpu_start = sum(_cpu(p.pid) for p in procs)
        produce(target, topic, payload)
        while written() == 0:
            if time.monotonic() > deadline:
                raise RuntimeError("no row written")
            time.sleep(0.01)
        started = time.monotonic()
        start_rows = written()
        while (done := written()) < rows:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {done} of {rows} rows written")
            time.sleep(0.05)
        seconds = time.monotonic() - started
        cpu = sum(_cpu(p.pid) for p in procs) - cpu_start
        measured = rows - start_rows
        rate = measured / seconds
        return {
            "rows": int(measured),
            "seconds": round(seconds, 2),
            "rows_per_s": round(rate, 1),
            "rows_per_s_per_replica": round(rate / replicas, 1),
            "rows_per_cpu_s": round(measured / cpu, 1) if cpu else None,
        }
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        target.drop(keyspace)


def _cpu(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def ship(target: Target, path: Path, lines: int) -> dict[str, Any]:
    """One ``logs2kafka ship`` of ``path`` into a new six-partition topic."""
    from logpipe.config.connections import KafkaConnection
    from logpipe.kafka import create_topic

    topic = f"bench_cluster_ship_{uuid.uuid4().hex[:8]}"
    create_topic(
        KafkaConnection(bootstrap_servers=target.bootstrap),
        topic,
        partitions=PARTITIONS,
        replication_factor=None if target.replication > 1 else 1,
    )
    target.topics.append(topic)
    done = kit.run_process(
        [
            kit.BIN / "logs2kafka", "ship", path, "--topic", topic,
            "--bootstrap-servers", target.bootstrap, "--compression", "lz4",
            "--source", "bench", "--log-format", "json",
        ],
        timeout=900,
    )  # fmt: skip
    shipped = _shipped_record(done.output)
    if shipped is None or shipped["lines"] != lines or not shipped["complete"]:
        raise RuntimeError(f"unexpected ship output: {done.output[-1000:]}")
    return {
        "lines_per_s": round(lines / shipped["seconds"], 1),
        "lines_per_cpu_s": round(lines / shipped["cpu_seconds"], 1),
        "peak_rss_mb": done.peak_rss_mb,
    }


def delete_topics(target: Target) -> None:
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=target.bootstrap, client_id="logpipe-bench")
    try:
        existing = set(admin.list_topics())
        gone = [name for name in target.topics if name in existing]
        if gone:
            admin.delete_topics(gone, timeout_ms=30_000)
    except Exception as exc:
        print(f"could not delete topics on {target.name}: {exc}", file=sys.stderr)
    finally:
        admin.close()


def run(
    rows: int = 120_000, ship_lines: int = 100_000, rounds: int = 3
) -> dict[str, dict[str, Any]]:
    """Every measurement, ``rounds`` times interleaved; the median of each (bench/run.py
    calls this)."""
    bootstrap, contact = cluster_endpoints()
    single = Target("single node", kit.BOOTSTRAP, kit.CONTACT_POINTS, 1)
    cluster = Target("cluster", bootstrap, contact, 3)
    plan = [
        ("single node, ONE", single, "ONE", 1),
        ("cluster, ONE", cluster, "ONE", 1),
        ("cluster, LOCAL_QUORUM", cluster, "LOCAL_QUORUM", 1),
        ("cluster, LOCAL_QUORUM, 2 replicas", cluster, "LOCAL_QUORUM", 2),
        ("cluster, LOCAL_QUORUM, 3 replicas", cluster, "LOCAL_QUORUM", 3),
    ]
    measured: dict[str, list[dict[str, Any]]] = {}
    path = kit.write_file(
        Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-cluster-{kit.RUN_ID}.log",
        kit.repeated(kit.corpus_lines(), ship_lines),
    )
    try:
        payload = write_payload(path.with_suffix(".kcat"), rows)
        for one in range(1, rounds + 1):
            kit.say(f"  -- cluster round {one}/{rounds}")
            for label, target, consistency, replicas in plan:
                row = pollers(target, payload, rows, consistency, replicas)
                measured.setdefault(f"kafka2cassandra poll: {label}", []).append(row)
                kit.say(f"  kafka2cassandra poll: {label}: {row}")
            for target in (single, cluster):
                row = ship(target, path, ship_lines)
                measured.setdefault(f"logs2kafka ship: {target.name}", []).append(row)
                kit.say(f"  logs2kafka ship: {target.name}: {row}")
    finally:
        path.unlink(missing_ok=True)
        path.with_suffix(".kcat").unlink(missing_ok=True)
        delete_topics(single)
        delete_topics(cluster)
    return {label: _median(rows) for label, rows in measured.items()}


def _median(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Each number's median over the rounds, and how many rounds there were."""
    out: dict[str, Any] = {"rounds": len(rows)}
    for key in rows[0]:
        values = [row[key] for row in rows if isinstance(row.get(key), int | float)]
        if values:
            out[key] = round(kit.median(values), 1)
    return out


def print_table(results: dict[str, dict[str, Any]]) -> None:
    base = results.get("kafka2cassandra poll: single node, ONE", {}).get("rows_per_s")
    print(f"\n{'':52} {'rate/s':>9} {'per replica':>12} {'per CPU s':>10} {'x single':>9}")
    for label, row in results.items():
        rate = row.get("rows_per_s") or row.get("lines_per_s")
        per_cpu = row.get("rows_per_cpu_s") or row.get("lines_per_cpu_s")
        per_replica = row.get("rows_per_s_per_replica")
        ratio = f"{rate / base:9.2f}" if base and "rows_per_s" in row else f"{'':9}"
        print(
            f"{label:52} {rate:>9,.0f} "
            + (f"{per_replica:>12,.0f}" if per_replica else f"{'':12}")
            + (f" {per_cpu:>10,.0f}" if per_cpu else f" {'':10}")
            + f" {ratio}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=120_000)
    parser.add_argument("--ship-lines", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = run(args.rows, args.ship_lines, args.rounds)
    print_table(results)
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

"""Pieces of the end-to-end runs: the daemons as processes, and the final accounting.

A run starts real ``logs2kafka`` and ``kafka2cassandra`` processes against a real Kafka
and Cassandra, writes a log like Apache would (logpipe_testkit.traffic.LogWriter), does harm to
them, and then compares every line written with the rows in Cassandra, the records in
the topic and the dead-letter topic.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

from logpipe.cassandra import Replication, Store
from logpipe.config.connections import CassandraConnection, KafkaConnection
from logpipe.kafka import create_topic
from logpipe_testkit import readiness
from logpipe_testkit.traffic import sequence_of
from tests.support.forwarder import tail_args
from tests.support.layout import suite_bucket

BIN = Path(sys.executable).parent


def prepare(
    kafka: KafkaConnection,
    cassandra: CassandraConnection,
    topic: str,
    dlq: str | None,
    partitions: int,
    replication: int = 1,
) -> None:
    """What an operator sets up first: the topic, its dead-letter topic (unless None: the
    poller then creates it), and the schema in ``cassandra.keyspace``, with ``replication``
    (1 on the local node; on the cluster 3, the topics getting the brokers' default)."""
    topic_replication = 1 if replication == 1 else None
    create_topic(kafka, topic, partitions=partitions, replication_factor=topic_replication)
    if dlq is not None:
        create_topic(kafka, dlq, partitions=1, replication_factor=topic_replication)
    with Store(cassandra, consistency="ALL") as store:
        store.apply_schema(
            cassandra.keyspace, Replication.parse(replication), bucket=suite_bucket()
        )


@dataclass
class Stage:
    """One run's topic, dead-letter topic, keyspace and consumer group on the servers at
    ``bootstrap`` and ``contact_points``, and the daemons that work on them."""

    bootstrap: str
    contact_points: str
    topic: str
    dlq: str
    keyspace: str
    group: str

    @classmethod
    def prepared(
        cls,
        bootstrap: str,
        contact_points: str,
        unique_name: Callable[[str], str],
        prefix: str,
        partitions: int,
        replication: int = 1,
        create_dlq: bool = True,
    ) -> Stage:
        """Fresh names from ``prefix``, set up as an operator would (``prepare``)."""
        names = (unique_name(p) for p in (prefix, f"{prefix}_dlq", f"{prefix}_ks", f"{prefix}_g"))
        stage = cls(bootstrap, contact_points, *names)
        dlq = stage.dlq if create_dlq else None
        prepare(stage.kafka, stage.cassandra, stage.topic, dlq, partitions, replication)
        return stage

    @property
    def kafka(self) -> KafkaConnection:
        return KafkaConnection(bootstrap_servers=self.bootstrap)

    @property
    def cassandra(self) -> CassandraConnection:
        return CassandraConnection(contact_points=self.contact_points, keyspace=self.keyspace)

    def shipper(
        self, name: str, paths: list[str], source: str, tmp_path: Path, *extra: str
    ) -> Daemon:
        """logs2kafka shipping ``paths`` as ``source``, its state and log in ``tmp_path``."""
        return logs2kafka(
            name, paths, source, self.topic, self.bootstrap, tmp_path / "state", tmp_path, *extra
        )

    def poller(self, name: str, log_dir: Path, *extra: str) -> Daemon:
        """kafka2cassandra storing the topic, its dead letters to the dead-letter topic."""
        return kafka2cassandra(
            name,
            self.topic,
            self.bootstrap,
            self.contact_points,
            self.keyspace,
            self.group,
            self.dlq,
            log_dir,
            *extra,
        )


def empty_log(tmp_path: Path) -> Path:
    """An empty ``logs/access.log`` in ``tmp_path``, for a writer to append to."""
    logs = tmp_path / "logs"
    logs.mkdir()
    log_path = logs / "access.log"
    log_path.touch()
    return log_path


class Daemon:
    """One daemon command as a restartable child process, its output appended to a file."""

    def __init__(self, name: str, argv: list[str], log_dir: Path, env: dict[str, str]) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_dir / f"{name}.log"
        self.env = {**os.environ, **env, "LOG_FORMAT": "json", "LOG_LEVEL": "info"}
        self.proc: subprocess.Popen[bytes] | None = None
        self.exits: list[int] = []

    def start(self) -> Daemon:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; the exit code is recorded (a clean stop is 0)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = -9999
        self.exits.append(code)
        return code

    def restart(self) -> None:
        self.kill9()
        self.start()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def logs2kafka(
    name: str,
    paths: list[str],
    source: str,
    topic: str,
    bootstrap: str,
    state_dir: Path,
    log_dir: Path,
    *extra: str,
) -> Daemon:
    args = tail_args(topic, bootstrap, state_dir, *paths, source=source, from_beginning="")
    argv = [str(BIN / "logs2kafka"), "tail", *args, *extra]
    return Daemon(name, argv, log_dir, {})


def kafka2cassandra(
    name: str,
    topic: str,
    bootstrap: str,
    contact_points: str,
    keyspace: str,
    group: str,
    dlq: str,
    log_dir: Path,
    *extra: str,
) -> Daemon:
    argv = [
        str(BIN / "kafka2cassandra"),
        "poll",
        "--topic",
        topic,
        "--bootstrap-servers",
        bootstrap,
        "--contact-points",
        contact_points,
        "--keyspace",
        keyspace,
        "--group-id",
        group,
        "--dlq-topic",
        dlq,
        "--consistency",
        "ONE",
        *extra,
    ]
    return Daemon(name, argv, log_dir, {})


def wait_ready(daemon: Daemon, port: int, timeout: float = 60.0) -> None:
    """Wait for the daemon's /readyz on ``port``; it failing at once if the daemon exits."""
    readiness.wait_ready(
        port,
        timeout,
        name=daemon.name,
        alive=daemon.alive,
        details=lambda: daemon.output()[-3000:],
    )


def wait_for(
    predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.5
) -> None:
    """Wait until ``predicate()`` holds; fail, naming ``what``, after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class ArrivalWatcher:
    """Polls Cassandra and records when each sequence number is first seen as a row.

    That gives the delay from append to row to within the polling interval. In
    ``event`` mode a row's log_id carries its request time (the time it was appended),
    so each poll reads only the window since the oldest line not yet seen.
    """

    def __init__(
        self,
        conn: CassandraConnection,
        keyspace: str,
        source: str,
        run: str,
        appended: dict[int, float],
        interval: float = 0.5,
    ) -> None:
        self.conn, self.keyspace, self.source, self.run = conn, keyspace, source, run
        self.appended = appended
        self.interval = interval
        self.first_seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="arrivals", daemon=True)

    def start(self) -> ArrivalWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _oldest_unseen(self) -> float | None:
        times = [t for s, t in list(self.appended.items()) if s not in self.first_seen]
        return min(times) if times else None

    def _loop(self) -> None:
        store: Store | None = None
        while not self._stop.is_set():
            try:
                if store is None:
                    store = Store(self.conn, consistency="ONE", request_timeout=5.0)
                oldest = self._oldest_unseen()
                if oldest is not None:
                    since = datetime.fromtimestamp(oldest - 2, UTC)
                    now = time.time()
                    for row in store.select(self.keyspace, self.source, "www_access", since):
                        seq = sequence_of(row["log"], self.run)
                        if seq is not None and seq not in self.first_seen:
                            self.first_seen[seq] = now
            except Exception:  # Cassandra is down on purpose part of the time
                pass
            self._stop.wait(self.interval)
        if store is not None:
            store.close()


def runs(numbers: list[int]) -> list[tuple[int, int]]:
    """Contiguous ranges of sorted numbers, as (first, last) pairs."""
    out: list[tuple[int, int]] = []
    for n in sorted(numbers):
        if out and n == out[-1][1] + 1:
            out[-1] = (out[-1][0], n)
        else:
            out.append((n, n))
    return out


def topic_sequences(bootstrap: str, topic: str, run: str) -> tuple[Counter[int], int]:
    """Sequence numbers of every record in ``topic`` (with repeats), and the record count."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=5000
    )
    parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    ends = consumer.end_offsets(parts)
    seen: Counter[int] = Counter()
    records = 0
    while any(consumer.position(tp) < ends[tp] for tp in parts):
        for batch in consumer.poll(timeout_ms=1000).values():
            for record in batch:
                records += 1
                seq = sequence_of((record.value or b"").decode("utf-8", "replace"), run)
                if seq is not None:
                    seen[seq] += 1
    consumer.close()
    return seen, records


def row_sequences(
    conn: CassandraConnection, keyspace: str, source: str, run: str, patience: float = 150.0
) -> Counter[int]:
    """Sequence numbers of the rows of one source (with repeats).

    Read at LOCAL_QUORUM, the level kafka2cassandra writes at: on a cluster where a node
    was killed, one replica may lack rows the others took, and a read at ONE answered by
    that replica misses them until hints or repair bring them.
    Tried again for ``patience`` seconds: a node just restarted after a kill -9, on a
    two-core machine running other tests, can be slow to answer for a while.
    """
    give_up = time.monotonic() + patience
    while True:
        try:
            seen: Counter[int] = Counter()
            with Store(
                conn, consistency="LOCAL_QUORUM", request_timeout=60.0, connect_timeout=30.0
            ) as s:
                for row in s.select(keyspace, source, "www_access", page_size=5000):
                    seq = sequence_of(row["log"], run)
                    if seq is not None:
                        seen[seq] += 1
            return seen
        except Exception:
            if time.monotonic() > give_up:
                raise
            time.sleep(3)


@dataclass
class Report:
    """What the run found, as the fault-injection issue asks for it."""

    written: int
    rows: int
    missing: list[int]
    row_duplicates: int
    topic_records: int
    topic_duplicates: int
    dlq: int
    delays_ms: list[float] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    resent: list[tuple[int, int]] = field(default_factory=list)
    kills: dict[str, int] = field(default_factory=dict)

    def percentile(self, q: float) -> float:
        if not self.delays_ms:
            return float("nan")
        ordered = sorted(self.delays_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))]

    def text(self) -> str:
        return "\n".join(
            [
                "fault-injection run",
                *(f"  event: {event}" for event in self.events),
                *(f"  {what:<28}{n} times" for what, n in sorted(self.kills.items())),
                f"  lines written     {self.written}",
                f"  rows              {self.rows}",
                f"  missing           {len(self.missing)}",
                f"  duplicate rows    {self.row_duplicates}",
                f"  lines in the topic twice (re-sent by logs2kafka) {self.topic_duplicates}",
                f"  re-sent ranges    {self.resent[:12]}",
                f"  topic records     {self.topic_records}",
                f"  dead-lettered     {self.dlq}",
                f"  append -> row delay p50 {self.percentile(0.5):.0f} ms,"
                f" p99 {self.percentile(0.99):.0f} ms (Cassandra polled every 0.5 s)",
            ]
        )

"""What the fault-matrix scenarios share: one pipeline on fresh names, its metrics and logs,
Kafka topics with their own settings, and the exactly-once accounting every scenario ends in.

Every scenario ends the same way: each line written (or record produced) is one row (0
missing), no line has two rows (``--log-id event``), and what was routed aside shows in
a metric or a log line of the daemon that routed it.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from kafka import KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families

from logpipe.cassandra import Replication, Store
from logpipe.config.connections import CassandraConnection, KafkaConnection
from logpipe.envelope import LogEntry, encode
from logpipe_testkit import readiness
from logpipe_testkit.ports import HOST, free_ports
from logpipe_testkit.traffic import load_lines, stamp
from tests.e2e.harness import (
    ArrivalWatcher,
    Daemon,
    kafka2cassandra,
    logs2kafka,
    prepare,
    row_sequences,
    wait_ready,
)
from tests.e2e.harness import wait_for as wait_for  # the scenarios import it from here
from tests.support.layout import suite_bucket
from tests.support.paths import ROOT

CORPUS = load_lines(ROOT / "tests/data/access-combined-real.log")
#: How long a poison or oversized record may hold up other records (issue 12).
HOLD_UP_LIMIT = 5.0


# -- Kafka topics with settings of their own ------------------------------------------


def _admin(bootstrap: str) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=bootstrap, client_id="fault-matrix")


def create_topic(bootstrap: str, name: str, partitions: int, configs: dict[str, str]) -> None:
    """A topic with ``configs`` (``max.message.bytes``, ``min.insync.replicas``...)."""
    admin = _admin(bootstrap)
    try:
        admin.create_topics(
            {name: {"num_partitions": partitions, "replication_factor": 1, "configs": configs}},
            wait_for_metadata=True,
        )
    finally:
        admin.close()


def alter_topic(bootstrap: str, name: str, configs: dict[str, str]) -> None:
    admin = _admin(bootstrap)
    try:
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name, configs=configs)])
    finally:
        admin.close()


def delete_topic(bootstrap: str, name: str) -> None:
    admin = _admin(bootstrap)
    try:
        admin.delete_topics([name])
        deadline = time.monotonic() + 30
        while name in admin.list_topics() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        admin.close()


def topic_exists(bootstrap: str, name: str) -> bool:
    admin = _admin(bootstrap)
    try:
        return name in admin.list_topics()
    finally:
        admin.close()


# -- a daemon's metrics and log ---------------------------------------------------------


def metrics(port: int) -> dict[str, float]:
    """Every sample of a daemon's /metrics, summed over labels, by sample name."""
    status, body = readiness.http_get(f"http://{HOST}:{port}/metrics")
    assert status == 200, f"/metrics answered {status}"
    values: Counter[str] = Counter()
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            values[sample.name] += sample.value
    return dict(values)


def metric(port: int, *names: str, absent: float | None = None) -> float:
    """The first of ``names`` the daemon exposes (a counter's ``_total`` added if needed),
    summed over its labels. A labelled counter shows only once it counted something: pass
    ``absent=0`` for those; otherwise a name not exposed fails, listing the names that are."""
    values = metrics(port)
    for name in names:
        for candidate in (name, f"{name}_total"):
            if candidate in values:
                return values[candidate]
    if absent is not None:
        return absent
    near = sorted(n for n in values if n.split("_")[0] == names[0].split("_")[0])
    raise AssertionError(f"none of {names} exposed; the daemon has {near}")


def logged(daemon: Daemon, *words: str) -> list[dict]:
    """The daemon's JSON log records whose message holds every one of ``words``."""
    found = []
    for line in daemon.output().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        message = str(record.get("message", "")).lower()
        if all(w.lower() in message for w in words):
            found.append(record)
    return found


# -- accounting -------------------------------------------------------------------------


@dataclass
class Tally:
    """Lines (or records) wanted as rows against the rows found, by sequence number."""

    wanted: set[int]
    rows: Counter[int]
    notes: list[str] = field(default_factory=list)

    @property
    def missing(self) -> list[int]:
        return sorted(self.wanted - set(self.rows))

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.rows.values() if n > 1)

    def text(self) -> str:
        return (
            f"wanted {len(self.wanted)}, rows {sum(self.rows.values())}, "
            f"missing {len(self.missing)} (first {self.missing[:10]}), "
            f"duplicate rows {self.duplicates}" + "".join(f"\n  {note}" for note in self.notes)
        )

    def assert_exactly_once(self) -> None:
        assert not self.missing and not self.duplicates, self.text()


@dataclass
class Pipeline:
    """One scenario's names, ports and daemons, on the servers it is given.

    ``prepare`` makes the topic (``partitions``), the dead-letter topic and the schema, as
    an operator would, unless told otherwise (a topic with settings of its own, a
    dead-letter topic that must not exist yet).
    """

    tmp_path: Path
    bootstrap: str
    contact_points: str
    unique_name: Callable[[str], str]
    label: str
    partitions: int = 3
    daemons: list[Daemon] = field(default_factory=list)

    def __post_init__(self) -> None:
        name = self.unique_name
        self.topic, self.dlq = name(f"fm_{self.label}"), name(f"fm_{self.label}_dlq")
        self.keyspace, self.group = name(f"fm_{self.label}_ks"), name(f"fm_{self.label}_g")
        self.source = f"fm-{self.label}"
        self.run = uuid.uuid4().hex[:10]
        self.kafka = KafkaConnection(bootstrap_servers=self.bootstrap)
        self.cassandra = CassandraConnection(
            contact_points=self.contact_points, keyspace=self.keyspace
        )
        self.logs = self.tmp_path / "logs"
        self.logs.mkdir(exist_ok=True)
        self.ports: dict[str, int] = {}

    def prepare(self, topic: bool = True, dlq: bool = True) -> Pipeline:
        if topic and dlq:
            prepare(self.kafka, self.cassandra, self.topic, self.dlq, self.partitions)
            return self
        if topic:
            create_topic(self.bootstrap, self.topic, self.partitions, {})
        if dlq:
            create_topic(self.bootstrap, self.dlq, 1, {})
        self.apply_schema()
        return self

    def apply_schema(self) -> None:
        with Store(self.cassandra) as store:
            store.apply_schema(self.keyspace, Replication.parse(1), bucket=suite_bucket())

    # -- daemons --------------------------------------------------------------------

    def _port(self, name: str) -> int:
        if name not in self.ports:
            self.ports[name] = free_ports(1)[0]
        return self.ports[name]

    def shipper(self, paths: Iterable[str], *extra: str, name: str = "logs2kafka") -> Daemon:
        daemon = logs2kafka(
            name,
            list(paths),
            self.source,
            self.topic,
            self.bootstrap,
            self.tmp_path / f"state-{name}",
            self.tmp_path,
            "--metrics-port",
            str(self._port(name)),
            *extra,
        )
        self.daemons.append(daemon)
        return daemon

    def poller(self, *extra: str, name: str = "kafka2cassandra") -> Daemon:
        """kafka2cassandra in event mode, a static member (a restart keeps its partitions)."""
        daemon = kafka2cassandra(
            name,
            self.topic,
            self.bootstrap,
            self.contact_points,
            self.keyspace,
            self.group,
            self.dlq,
            self.tmp_path,
            "--log-id",
            "event",
            "--group-instance-id",
            f"{name}-{self.group}",
            "--metrics-port",
            str(self._port(name)),
            *extra,
        )
        self.daemons.append(daemon)
        return daemon

    def port(self, daemon: Daemon) -> int:
        return self.ports[daemon.name]

    def start(self, daemon: Daemon, timeout: float = 90.0) -> Daemon:
        """Start ``daemon`` (if it is not running) and wait for its /readyz."""
        if not daemon.alive():
            daemon.start()
        self.wait_ready(daemon, timeout)
        return daemon

    def wait_ready(self, daemon: Daemon, timeout: float = 90.0) -> None:
        wait_ready(daemon, self.port(daemon), timeout)

    def assert_alive(self) -> None:
        for daemon in self.daemons:
            if daemon.proc is not None:
                assert daemon.alive(), f"{daemon.name} exited:\n{daemon.output()[-3000:]}"

    def stop(self) -> None:
        """SIGTERM each running daemon; each must stop cleanly (exit 0)."""
        for daemon in self.daemons:
            if daemon.alive():
                code = daemon.terminate()
                assert code == 0, f"{daemon.name} exit {code}:\n{daemon.output()[-3000:]}"

    def kill_all(self) -> None:
        for daemon in self.daemons:
            if daemon.alive():
                daemon.kill9()

    # -- records produced straight to the topic -------------------------------------

    def envelope(self, seq: int, source: str | None = None) -> bytes:
        """A good envelope whose line carries ``seq`` (what logs2kafka would send)."""
        now = datetime.now(UTC)
        line = stamp(CORPUS[seq % len(CORPUS)], self.run, seq, now).decode()
        when = now.isoformat(timespec="seconds")
        return encode(LogEntry(source or self.source, "www_access", when, line, {}))

    def producer(self) -> KafkaProducer:
        return KafkaProducer(
            bootstrap_servers=self.bootstrap, max_request_size=4 * 1024 * 1024, linger_ms=0
        )

    # -- rows -----------------------------------------------------------------------

    def rows(self, run: str | None = None) -> Counter[int]:
        return row_sequences(self.cassandra, self.keyspace, self.source, run or self.run)

    def settle(self, wanted: Iterable[int], timeout: float = 90.0, run: str | None = None) -> Tally:
        """Wait until every wanted sequence number is a row (or ``timeout``), then a little
        longer for stray duplicates; the daemons must stay up throughout."""
        wanted = set(wanted)
        deadline = time.monotonic() + timeout
        rows = self.rows(run)
        while not wanted <= set(rows) and time.monotonic() < deadline:
            self.assert_alive()
            time.sleep(1)
            rows = self.rows(run)
        time.sleep(2)
        return Tally(wanted, self.rows(run))


class RecordWriter:
    """Produces good envelopes straight to the topic at a steady rate, round robin over
    ``partitions``: what logs2kafka on many hosts would send, with each record's partition
    and time of sending kept (``partition_of``, ``appended``) to measure hold-ups."""

    def __init__(self, pipe: Pipeline, rate: float, partitions: list[int]) -> None:
        self.pipe = pipe
        self.rate = rate
        self.partitions = partitions
        self.appended: dict[int, float] = {}
        self.partition_of: dict[int, int] = {}
        self._producer = pipe.producer()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="record-writer", daemon=True)

    def start(self) -> RecordWriter:
        self._thread.start()
        return self

    def _loop(self) -> None:
        begin = time.monotonic()
        seq = 0
        while not self._stop.is_set():
            delay = begin + seq / self.rate - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                break
            partition = self.partitions[seq % len(self.partitions)]
            self._producer.send(self.pipe.topic, self.pipe.envelope(seq), partition=partition)
            self._producer.flush()
            self.appended[seq] = time.time()
            self.partition_of[seq] = partition
            seq += 1

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        self._producer.close()
        return len(self.appended)

    def sent_to(self, partitions: Iterable[int]) -> dict[int, float]:
        """``appended`` restricted to records of ``partitions``."""
        chosen = set(partitions)
        return {s: t for s, t in self.appended.items() if self.partition_of[s] in chosen}


def worst_delay(watcher: ArrivalWatcher, sent: dict[int, float]) -> tuple[float, int]:
    """The longest time from sending to row among ``sent`` (inf if one never arrived),
    and how many never arrived."""
    never = [s for s in sent if s not in watcher.first_seen]
    if never:
        return float("inf"), len(never)
    return max((watcher.first_seen[s] - t for s, t in sent.items()), default=0.0), 0

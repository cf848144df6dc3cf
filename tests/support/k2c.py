"""Helpers of the kafka2cassandra integration tests: envelopes, topics, keyspaces, pollers.

Envelopes are produced with logpipe's own producer; offsets are read back with
kafka-python directly (what the broker holds, not what the poller believes).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import orjson
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from logpipe.cassandra import Replication, Store
from logpipe.config.connections import CassandraConnection, KafkaConnection
from logpipe.envelope import LogEntry, encode
from logpipe.kafka import ConsumerSettings, create_topic, open_producer
from logpipe.kafka2cassandra.poller import Poller, PollerConfig
from tests.support.layout import suite_bucket
from tests.support.paths import ROOT

ROOT = ROOT
CORPUS = ROOT / "tests" / "data" / "access-combined-real.log"
K2C = Path(sys.executable).with_name("kafka2cassandra")
_STAMP = re.compile(r"\[([^\]]+)\]")


def corpus_lines() -> list[str]:
    return CORPUS.read_text(encoding="utf-8").splitlines()


def request_time(line: str) -> datetime:
    return datetime.strptime(_STAMP.search(line).group(1), "%d/%b/%Y:%H:%M:%S %z")


def entries(count: int, sources: int = 3, start: int = 0) -> list[LogEntry]:
    """``count`` envelopes of real lines, each made unique by a trailing sequence number."""
    lines = corpus_lines()
    out = []
    for i in range(start, start + count):
        line = lines[i % len(lines)]
        out.append(
            LogEntry(
                source=f"www{i % sources}",
                type="www_access",
                datetime=request_time(line).isoformat(),
                log=f"{line} seq={i}",
                fields={},
            )
        )
    return out


def legacy_value(entry: LogEntry) -> bytes:
    """The tutorial's message: a JSON string holding the JSON envelope, the line quoted,
    the time as YYYY-MM-DD HH:MM."""
    when = datetime.fromisoformat(entry.datetime).strftime("%Y-%m-%d %H:%M")
    inner = {"datetime": when, "source": entry.source, "type": entry.type, "log": f"'{entry.log}'"}
    return orjson.dumps(orjson.dumps({"log": inner}).decode())


def make_topic(bootstrap: str, name: str, partitions: int = 3) -> None:
    create_topic(KafkaConnection(bootstrap_servers=bootstrap), name, partitions=partitions)


def produce(bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes | None]]) -> None:
    """Produce (key, value) pairs and wait until Kafka acknowledged every one."""
    errors: list[BaseException] = []
    acked = [0]

    def on_ack(exc: BaseException | None) -> None:
        if exc is None:
            acked[0] += 1
        else:
            errors.append(exc)

    producer = open_producer(KafkaConnection(bootstrap_servers=bootstrap), topic)
    for key, value in records:
        producer.send(key or b"", value, on_ack)
    assert producer.flush(60)
    producer.close()
    assert not errors and acked[0] == len(records)


def produce_entries(bootstrap: str, topic: str, items: list[LogEntry]) -> None:
    produce(bootstrap, topic, [(e.source.encode(), encode(e)) for e in items])


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        return {tp.partition: o for tp, o in consumer.end_offsets(parts).items()}
    finally:
        consumer.close()


def caught_up(bootstrap: str, group: str, topic: str) -> bool:
    """Whether ``group`` has committed every record of ``topic``."""
    return committed_offsets(bootstrap, group, topic) == end_offsets(bootstrap, topic)


def read_partition(
    bootstrap: str, topic: str, count: int | None = None, timeout: float = 30.0
) -> list:
    """The records of partition 0 of ``topic`` from its beginning: until ``count`` are read,
    or (``count`` None) until its end is reached, or ``timeout``."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    out: list = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if count is not None and len(out) >= count:
            break
        for records in consumer.poll(timeout_ms=300).values():
            out.extend(records)
        if count is None and out and consumer.position(tp) >= consumer.end_offsets([tp])[tp]:
            break
    consumer.close()
    return out


def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The group's commits; {} while the broker does not answer (other suites restart the
    shared broker now and then: a wait for commits then simply waits longer)."""
    try:
        return _committed_offsets(bootstrap, group, topic)
    except KafkaError:
        return {}


def _committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        parts = sorted(consumer.partitions_for_topic(topic))
        # A partition that never held a record has no commit: count it as offset 0.
        return {p: consumer.committed(TopicPartition(topic, p)) or 0 for p in parts}
    finally:
        consumer.close(autocommit=False)


@contextmanager
def keyspace(contact_points: str, name: str) -> Iterator[Store]:
    """A keyspace of the test's own (replication 1), dropped at the end."""
    store = Store(CassandraConnection(contact_points=contact_points))
    try:
        store.apply_schema(name, Replication.parse(1), bucket=suite_bucket())
        yield store
    finally:
        try:
            store.drop_keyspace(name)
        finally:
            store.close()


def all_logs(store: Store, name: str, patience: float = 60.0) -> list[str]:
    """Every row's line (a full scan: test keyspaces are small).

    Tried again for ``patience`` seconds while no host can be asked: a session that saw
    its node go down reconnects on its own schedule, so a read right after the node came
    back may find no host marked up yet. Any other error is raised at once.
    """
    from cassandra.cluster import NoHostAvailable
    from cassandra.query import SimpleStatement

    give_up = time.monotonic() + patience
    while True:
        try:
            rows = store.session.execute(
                SimpleStatement(f"SELECT log FROM {name}.logs", fetch_size=5000)
            )
            return [row.log for row in rows]
        except NoHostAvailable:
            if time.monotonic() > give_up:
                raise
            time.sleep(0.5)


def count_rows(store: Store, name: str) -> int:
    return len(all_logs(store, name))


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


class PollerThread:
    """A Poller running in this process (for tests that do not kill processes)."""

    def __init__(self, bootstrap: str, contact_points: str, **config: object) -> None:
        group = config.pop("group_id", "kafka2cassandra")
        client = config.pop("kafka_client", "kafka-python")
        settings = ConsumerSettings(group_id=group, session_timeout_ms=10_000, client=client)  # type: ignore[arg-type]
        self.poller = Poller(
            # tune_gc off: it changes the collector of the whole (pytest) process.
            PollerConfig(consumer=settings, metrics_host="127.0.0.1", tune_gc=False, **config),  # type: ignore[arg-type]
            KafkaConnection(bootstrap_servers=bootstrap),
            CassandraConnection(contact_points=contact_points),
        )
        self.status: int | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.status = self.poller.run()

    def __enter__(self) -> PollerThread:
        self._thread.start()
        assert self.poller.ready.wait(60), "poller did not start"
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self.poller.stop()
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "poller did not stop"

    def __exit__(self, *exc: object) -> None:
        if self._thread.is_alive():
            self.stop()


def stream_poller(
    bootstrap: str, contact_points: str, topic: str, ks: str, group: str, **config: object
) -> PollerThread:
    """A poller of ``topic`` into keyspace ``ks`` in consumer group ``group``, its dead
    letters to ``<topic>_dlq`` unless ``dlq_topic`` says otherwise."""
    config.setdefault("dlq_topic", f"{topic}_dlq")
    return PollerThread(
        bootstrap, contact_points, topic=topic, keyspace=ks, group_id=group, **config
    )


def poller_args(topic: str, ks: str, group: str, *extra: str) -> list[str]:
    """``kafka2cassandra poll`` options for ``topic`` into ``ks`` in ``group``, its dead
    letters to ``<topic>_dlq``, then ``extra``."""
    return [
        "--topic", topic, "--keyspace", ks, "--group-id", group, "--dlq-topic", f"{topic}_dlq",
        *extra,
    ]  # fmt: skip


def poller_process(
    bootstrap: str, contact_points: str, *args: str, log_path: Path | None = None
) -> subprocess.Popen:
    """``kafka2cassandra poll`` as a child process (for signals and kill -9)."""
    env = {**os.environ, "LOG_FORMAT": "json", "LOG_LEVEL": "info"}
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen(
        [
            str(K2C),
            "poll",
            "--bootstrap-servers",
            bootstrap,
            "--contact-points",
            contact_points,
            *args,
        ],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT if log_path else subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )

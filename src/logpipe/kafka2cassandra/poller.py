"""kafka2cassandra: consume log envelopes, write them as rows, commit what is stored.

The loop on one thread: poll Kafka, decode, hand rows to the writer (many requests in
flight, bounded), poll again. Acknowledgements come back on the driver's threads and
mark offsets done in an ``OffsetTracker``; a partition's offset is committed only up to
the last record before which every record is stored or dead-lettered. A slow or absent
Cassandra never blocks the loop: the partitions are paused (``poll`` keeps the group
membership alive and returns nothing), failed writes are retried with exponential
backoff and jitter, and consumption resumes once writes succeed again.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import queue
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from logpipe.cassandra import (
    Row,
    RowWriter,
    Store,
    StoreSetupError,
    event_timeuuid,
    is_rejection,
)
from logpipe.config import settings
from logpipe.config.connections import CassandraConnection, KafkaConnection
from logpipe.envelope import EnvelopeError, decode, parse_datetime
from logpipe.kafka import (
    ConsumedRecord,
    ConsumerSettings,
    DeadLetterProducer,
    KafkaAccessDenied,
    KafkaUnavailable,
    LogConsumer,
    Partition,
    access_checked,
    create_topic,
)
from logpipe.observability import HealthServer, StateLog, get_logger

log = get_logger("poller")

#: Headers added to a dead letter (after the original record's own headers).
DLQ_ERROR = "logpipe.error"
DLQ_REASON = "logpipe.error.reason"
DLQ_TOPIC = "logpipe.source.topic"
DLQ_PARTITION = "logpipe.source.partition"
DLQ_OFFSET = "logpipe.source.offset"
_MAX_REASON = 2000
#: A batch also ends at this many bytes of lines: a few dozen long lines (up to 256 KiB
#: each) would otherwise make a request larger than Cassandra takes in one mutation.
_BATCH_BYTES = 512 * 1024


# --- offsets ---------------------------------------------------------------------------


@dataclass
class _PartitionOffsets:
    epoch: int
    pending: deque[int] = field(default_factory=deque)
    done: set[int] = field(default_factory=set)
    #: Offset after the last record received (None before the first).
    next: int | None = None
    #: Offset last sent in a commit (None: nothing sent yet).
    sent: int | None = None


class OffsetTracker:
    """Which offsets of each partition are stored, and how far a commit may go.

    Records arrive in offset order per partition and complete in any order. The commit
    position of a partition is its oldest record not yet done, or, when all are done,
    the offset after the last record received: committing there never skips a record
    whose row is not acknowledged. Thread-safe: records are added by the poll loop,
    marked done by write and dead-letter callbacks, and read by the rebalance listener.
    Each assignment of a partition gets a new epoch, so an acknowledgement of a record
    read before a revocation cannot touch the bookkeeping of a later assignment.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._parts: dict[Partition, _PartitionOffsets] = {}
        self._epochs = 0

    def assign(self, partitions: Iterable[Partition]) -> None:
        with self._cond:
            for tp in partitions:
                if tp not in self._parts:
                    self._epochs += 1
                    self._parts[tp] = _PartitionOffsets(epoch=self._epochs)

    def forget(self, partitions: Iterable[Partition]) -> None:
        with self._cond:
            for tp in partitions:
                self._parts.pop(tp, None)
            self._cond.notify_all()

    def partitions(self) -> list[Partition]:
        with self._cond:
            return list(self._parts)

    def owns(self, tp: Partition) -> bool:
        with self._cond:
            return tp in self._parts

    def add(self, tp: Partition, offset: int) -> int:
        """Record that ``offset`` was received; returns the epoch to quote in ``done``.

        A record of a partition not assigned (revoked while it was being fetched) gets
        epoch 0: it is still written, but it never moves a commit of this consumer.
        """
        with self._cond:
            state = self._parts.get(tp)
            if state is None:
                return 0
            state.pending.append(offset)
            state.next = offset + 1
            return state.epoch

    def add_many(self, tp: Partition, offsets: Sequence[int]) -> int:
        """``add`` for several offsets of one partition (in order) under one lock."""
        with self._cond:
            state = self._parts.get(tp)
            if state is None or not offsets:
                return 0
            state.pending.extend(offsets)
            state.next = offsets[-1] + 1
            return state.epoch

    def done(self, tp: Partition, epoch: int, offsets: Iterable[int]) -> None:
        """Mark offsets stored (or dead-lettered); ignored for a revoked assignment."""
        with self._cond:
            state = self._parts.get(tp)
            if state is None or state.epoch != epoch:
                return
            state.done.update(offsets)
            pending, finished = state.pending, state.done
            while pending and pending[0] in finished:
                finished.discard(pending.popleft())
            if not pending:
                finished.clear()
                self._cond.notify_all()

    def position(self, tp: Partition) -> int | None:
        """The offset a commit may name for ``tp`` now (the next record to read)."""
        with self._cond:
            state = self._parts.get(tp)
            return None if state is None else self._position(state)

    @staticmethod
    def _position(state: _PartitionOffsets) -> int | None:
        return state.pending[0] if state.pending else state.next

    def committable(
        self, partitions: Iterable[Partition] | None = None, *, unsent_only: bool = True
    ) -> dict[Partition, int]:
        """Positions that moved since they were last sent in a commit (or, with
        ``unsent_only=False``, every known position: a last commit must not count on an
        asynchronous one still in flight, which closing the consumer may cancel)."""
        with self._cond:
            chosen = self._parts if partitions is None else partitions
            out: dict[Partition, int] = {}
            for tp in chosen:
                state = self._parts.get(tp)
                if state is None:
                    continue
                position = self._position(state)
                if position is not None and (position != state.sent or not unsent_only):
                    out[tp] = position
            return out

    def sent(self, offsets: dict[Partition, int]) -> None:
        """A commit of these positions was sent."""
        with self._cond:
            for tp, offset in offsets.items():
                state = self._parts.get(tp)
                if state is not None:
                    state.sent = offset

    def failed(self, offsets: dict[Partition, int]) -> None:
        """A commit of these positions failed: send them again next time."""
        with self._cond:
            for tp, offset in offsets.items():
                state = self._parts.get(tp)
                if state is not None and state.sent == offset:
                    state.sent = None

    def in_flight(self, partitions: Iterable[Partition] | None = None) -> int:
        """Records received and not yet done."""
        with self._cond:
            chosen = self._parts if partitions is None else partitions
            return sum(len(self._parts[tp].pending) for tp in chosen if tp in self._parts)

    def wait_idle(self, partitions: Iterable[Partition], timeout: float) -> bool:
        """Wait until every record of these partitions is done; True if so in time."""
        chosen = list(partitions)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                busy = sum(len(self._parts[tp].pending) for tp in chosen if tp in self._parts)
                remaining = deadline - time.monotonic()
                if not busy:
                    return True
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)


# --- backoff ---------------------------------------------------------------------------


class Backoff:
    """Exponential backoff with jitter: each delay is drawn from [d/2, d], where d
    doubles from ``base`` up to ``cap``. The jitter keeps a group of pollers from
    retrying against a recovering Cassandra in lockstep."""

    def __init__(
        self,
        base: float = 0.5,
        cap: float = 15.0,
        factor: float = 2.0,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if base <= 0 or cap < base or factor < 1:
            raise ValueError("need 0 < base <= cap and factor >= 1")
        self.base, self.cap, self.factor = base, cap, factor
        self._rng = rng
        self.attempts = 0

    def next(self) -> float:
        ceiling = min(self.cap, self.base * self.factor**self.attempts)
        self.attempts += 1
        return ceiling / 2 + self._rng() * ceiling / 2

    def reset(self) -> None:
        self.attempts = 0


# --- metrics ---------------------------------------------------------------------------


class PollerMetrics:
    """The poller's Prometheus metrics, in a registry of their own (one per poller)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.consumed = Counter(
            "kafka2cassandra_messages_consumed", "Kafka messages consumed.", registry=r
        )
        self.written = Counter(
            "kafka2cassandra_rows_written", "Rows acknowledged by Cassandra.", registry=r
        )
        self.dead_lettered = Counter(
            "kafka2cassandra_dead_lettered",
            "Messages sent to the dead-letter topic, by error.",
            ["error"],
            registry=r,
        )
        self.write_latency = Histogram(
            "kafka2cassandra_write_latency_seconds",
            "Latency of one Cassandra write request (a row or a batch of rows).",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.write_retries = Counter(
            "kafka2cassandra_write_retries", "Write requests retried after a failure.", registry=r
        )
        self.lag = Gauge(
            "kafka2cassandra_consumer_lag",
            "Records of the partition not yet committed (high watermark - commit position).",
            ["topic", "partition"],
            registry=r,
        )
        self.commits = Counter("kafka2cassandra_offset_commits", "Offset commits sent.", registry=r)
        self.cassandra_up = Gauge(
            "kafka2cassandra_cassandra_writable", "1 while Cassandra accepts writes.", registry=r
        )
        self.paused = Gauge("kafka2cassandra_paused", "1 while consumption is paused.", registry=r)


# --- the poller ------------------------------------------------------------------------


@dataclass(frozen=True)
class PollerConfig:
    """Everything ``kafka2cassandra poll`` is told (the CLI builds it from the flags)."""

    topic: str = settings.TOPIC.default
    keyspace: str = settings.KEYSPACE.default
    log_id_mode: str = settings.LOG_ID.default
    dlq_topic: str = settings.DLQ_TOPIC.default
    consistency: str = settings.CONSISTENCY.default
    max_in_flight: int = settings.MAX_WRITES_IN_FLIGHT.default
    #: Rows of one partition key per unlogged batch (1: one insert per row).
    batch_rows: int = settings.BATCH_ROWS.default
    commit_interval: float = settings.COMMIT_INTERVAL.default
    shutdown_timeout: float = settings.SHUTDOWN_TIMEOUT.default
    metrics_port: int | None = None
    metrics_host: str = "0.0.0.0"
    consumer: ConsumerSettings = field(default_factory=ConsumerSettings)
    #: How long a revocation waits for the revoked partitions' writes before committing.
    revoke_wait: float = 5.0
    #: Freeze the objects made at start-up out of the collector's way (see _tune_gc).
    tune_gc: bool = True
    retry_base: float = 0.5
    retry_cap: float = 15.0
    request_timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.log_id_mode not in ("now", "event"):
            raise ValueError("log_id mode must be now or event")
        if self.max_in_flight < 1 or self.batch_rows < 1:
            raise ValueError("max_in_flight and batch_rows must be at least 1")


@dataclass(slots=True)
class _Item:
    """One consumed record on its way to Cassandra or to the dead-letter topic."""

    record: ConsumedRecord
    epoch: int
    row: Row | None = None


_Chunk = Sequence[_Item]


class Poller:
    """Consume ``config.topic`` into ``config.keyspace``.logs until ``stop()``."""

    def __init__(
        self,
        config: PollerConfig,
        kafka: KafkaConnection,
        cassandra: CassandraConnection,
        metrics: PollerMetrics | None = None,
    ) -> None:
        self.config = config
        self.kafka_conn = kafka
        self.cassandra_conn = cassandra
        self.metrics = metrics or PollerMetrics()
        self.tracker = OffsetTracker()
        self._stop = threading.Event()
        self._stop_at: float | None = None
        self._events: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._retry: list[tuple[Any, ...]] = []
        self._retry_at: float | None = None
        self._backoff = Backoff(config.retry_base, config.retry_cap)
        self._last_failure = 0.0
        self._cassandra_state = StateLog(log)
        self._flow_state = StateLog(log, "running")
        self._dlq_state = StateLog(log, "ok")
        self._kafka_state = StateLog(log, "ok")
        self._commit_state = StateLog(log, "ok")
        self._kafka_backoff = Backoff(config.retry_base, config.retry_cap)
        self._store: Store | None = None
        self._writer: RowWriter | None = None
        self._consumer: LogConsumer | None = None
        self._dlq: DeadLetterProducer | None = None
        self._last_loop = time.monotonic()
        self._health: HealthServer | None = None
        self.ready = threading.Event()

    # -- control -------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to finish in-flight work, commit and return (signal-safe)."""
        if self._stop_at is None:
            self._stop_at = time.monotonic()
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def is_ready(self) -> bool:
        """Kafka and Cassandra both reachable (``/readyz``)."""
        store, consumer = self._store, self._consumer
        return (
            store is not None
            and consumer is not None
            and store.is_up()
            and consumer.connected()
            and self._cassandra_state.state != "failing"
        )

    def is_alive(self) -> bool:
        """The loop turned recently (``/healthz``)."""
        return time.monotonic() - self._last_loop < 60.0

    # -- setup ---------------------------------------------------------------------

    def _until_connected(self, what: str, connect: Callable[[], Any]) -> Any:
        """Call ``connect`` until it succeeds or the poller is stopped."""
        backoff = Backoff(self.config.retry_base, self.config.retry_cap)
        state = StateLog(log)
        while not self.stopping:
            try:
                made = connect()
            except (StoreSetupError, KafkaAccessDenied):
                raise  # wrong credentials or certificate: waiting cannot help
            except Exception as exc:
                state.set(
                    "down",
                    f"{what} unreachable; retrying",
                    logging.WARNING,
                    error=str(exc)[:_MAX_REASON],
                )
                self._stop.wait(backoff.next())
                continue
            if state.state == "down":
                log.info(f"{what} reachable")
            return made
        return None

    def _connect_store(self) -> Store:
        return Store(
            self.cassandra_conn,
            consistency=self.config.consistency,
            request_timeout=self.config.request_timeout,
        )

    def _open_consumer(self) -> LogConsumer:
        try:
            with access_checked(self.kafka_conn):
                create_topic(self.kafka_conn, self.config.dlq_topic, partitions=1, timeout=10.0)
        except KafkaAccessDenied:
            raise
        except Exception as exc:  # the topic may exist, or the user may not create topics
            log.info("dead-letter topic not created", extra={"error": str(exc)[:_MAX_REASON]})
        with access_checked(self.kafka_conn):
            self._dlq = DeadLetterProducer(self.kafka_conn, self.config.dlq_topic)
            return LogConsumer(self.kafka_conn, self.config.topic, self.config.consumer, self)

    def run(self) -> int:
        """Run until stopped; returns the process exit status."""
        cfg = self.config
        if cfg.metrics_port is not None:
            self._health = HealthServer(
                cfg.metrics_port,
                live=self.is_alive,
                ready=self.is_ready,
                registry=self.metrics.registry,
                host=cfg.metrics_host,
            ).start()
        try:
            self._store = self._until_connected("Cassandra", self._connect_store)
            if self._store is None:
                return 0
            self._writer = self._store.writer(
                cfg.keyspace, log_id_mode=cfg.log_id_mode, max_in_flight=cfg.max_in_flight
            )
            self.metrics.cassandra_up.set(1)
            self._consumer = self._until_connected("Kafka", self._open_consumer)
            if self._consumer is None:
                return 0
            log.info(
                "consuming",
                extra={
                    "topic": cfg.topic,
                    "group_id": cfg.consumer.group_id,
                    "group_instance_id": cfg.consumer.group_instance_id,
                    "keyspace": cfg.keyspace,
                    "log_id": cfg.log_id_mode,
                    "batch_rows": cfg.batch_rows,
                    "max_in_flight": cfg.max_in_flight,
                    "consistency": cfg.consistency,
                },
            )
            if cfg.tune_gc:
                _tune_gc()
            self.ready.set()
            self._loop()
            return 0
        finally:
            self._shutdown()

    # -- the loop ------------------------------------------------------------------

    def _loop(self) -> None:
        cfg = self.config
        consumer, writer = self._consumer, self._writer
        assert consumer is not None and writer is not None
        next_commit = time.monotonic() + cfg.commit_interval
        next_lag = time.monotonic()
        while True:
            now = time.monotonic()
            self._last_loop = now
            self._handle_events()
            self._maybe_retry(now)
            self._check_recovery()
            if self.stopping:
                drained = not self._retry and self.tracker.in_flight() == 0
                if drained or now >= self._drain_deadline():
                    if not drained:
                        log.warning(
                            "stopping with records not stored; they are not committed",
                            extra={"records": self.tracker.in_flight()},
                        )
                    return
            paused = self._flow_control(consumer, writer)
            timeout = 0.05 if (paused or self._retry) else 0.2
            try:
                records = consumer.poll(timeout, max_records=cfg.consumer.max_poll_records)
            except KafkaUnavailable as exc:
                # The client reconnects by itself; commits wait, writes in flight go on.
                self._kafka_state.set(
                    "unreachable",
                    "Kafka unreachable; polling again",
                    logging.WARNING,
                    error=str(exc)[:_MAX_REASON],
                )
                self._stop.wait(min(5.0, self._kafka_backoff.next()))
                continue
            if self._kafka_state.state != "ok":
                self._kafka_backoff.reset()
                self._kafka_state.set("ok", "Kafka reachable again")
            if records:
                self._ingest(records)
            now = time.monotonic()
            if now >= next_commit:
                self._commit()
                next_commit = now + cfg.commit_interval
            if now >= next_lag:
                self._update_lag(consumer)
                next_lag = now + 5.0

    def _drain_deadline(self) -> float:
        # Leave a quarter of the allowed time (at most 5 s) for the final commit and close.
        assert self._stop_at is not None
        allowed = self.config.shutdown_timeout
        return self._stop_at + allowed - min(5.0, allowed / 4)

    def _flow_control(self, consumer: LogConsumer, writer: RowWriter) -> bool:
        """Pause every assigned partition while writes cannot keep up or are failing."""
        pause = self.stopping or bool(self._retry) or writer.queued >= writer.max_in_flight
        assigned = consumer.assignment()
        if pause:
            consumer.pause(sorted(assigned - consumer.paused()))
            if not self.stopping:
                self._flow_state.set("paused", "consumption paused", logging.DEBUG)
        else:
            paused = consumer.paused()
            if paused:
                consumer.resume(sorted(paused))
            self._flow_state.set("running", "consumption resumed", logging.DEBUG)
        self.metrics.paused.set(1 if pause else 0)
        return pause

    def _ingest(self, records: list[ConsumedRecord]) -> None:
        cfg = self.config
        tracker, event_mode = self.tracker, cfg.log_id_mode == "event"
        groups: dict[tuple[str, str], list[_Item]] = {}
        received: dict[Partition, list[int]] = {}
        for record in records:
            received.setdefault(record.tp, []).append(record.offset)
        epochs = {tp: tracker.add_many(tp, offsets) for tp, offsets in received.items()}
        for tp, epoch in epochs.items():
            if epoch == 0 and self._consumer is not None and tp in self._consumer.assignment():
                # Fetched between the client taking the assignment and our listener
                # hearing of it (another thread): the partition is ours, track it.
                tracker.assign([tp])
                epochs[tp] = tracker.add_many(tp, received[tp])
        for record in records:
            item = _Item(record, epochs[record.tp])
            try:
                entry = decode(record.value)
            except EnvelopeError as exc:
                self._dead_letter(item, "envelope", str(exc))
                continue
            row = Row(entry.source, entry.type, entry.datetime, entry.log)
            if event_mode:
                try:
                    when = parse_datetime(entry.datetime)
                except ValueError as exc:
                    self._dead_letter(item, "datetime", f"log.datetime not a time: {exc}")
                    continue
                row.log_id = event_timeuuid(when, record.topic, record.partition, record.offset)
                row.timestamp_us = (
                    record.timestamp_ms * 1000
                    if record.timestamp_ms >= 0
                    else int(when.timestamp() * 1_000_000)
                )
            item.row = row
            groups.setdefault((row.source, row.type), []).append(item)
        self.metrics.consumed.inc(len(records))
        size = cfg.batch_rows
        for items in groups.values():
            chunk: list[_Item] = []
            chunk_bytes = 0
            for item in items:
                row_bytes = len(item.row.log) if item.row is not None else 0
                if chunk and (len(chunk) >= size or chunk_bytes + row_bytes > _BATCH_BYTES):
                    self._submit(chunk)
                    chunk, chunk_bytes = [], 0
                chunk.append(item)
                chunk_bytes += row_bytes
            if chunk:
                self._submit(chunk)

    def _submit(self, chunk: _Chunk) -> None:
        assert self._writer is not None
        self._writer.submit(
            [item.row for item in chunk if item.row is not None],
            functools.partial(self._on_written, chunk),
        )

    # -- completions (driver and Kafka client threads) ----------------------------------

    def _ack(self, chunk: _Chunk) -> None:
        if len(chunk) == 1:
            item = chunk[0]
            self.tracker.done(item.record.tp, item.epoch, (item.record.offset,))
            return
        by_partition: dict[tuple[Partition, int], list[int]] = {}
        for item in chunk:
            by_partition.setdefault((item.record.tp, item.epoch), []).append(item.record.offset)
        for (tp, epoch), offsets in by_partition.items():
            self.tracker.done(tp, epoch, offsets)

    def _on_written(self, chunk: _Chunk, exc: BaseException | None, latency: float) -> None:
        self.metrics.write_latency.observe(latency)
        if exc is None:
            self.metrics.written.inc(len(chunk))
            self._ack(chunk)
        else:
            self._events.put(("write", chunk, exc))

    def _dead_letter(self, item: _Item, error: str, reason: str) -> None:
        record = item.record
        reason = reason[:_MAX_REASON]
        headers = [
            *record.headers,
            (DLQ_ERROR, error.encode()),
            (DLQ_REASON, reason.encode("utf-8", "replace")),
            (DLQ_TOPIC, record.topic.encode()),
            (DLQ_PARTITION, str(record.partition).encode()),
            (DLQ_OFFSET, str(record.offset).encode()),
        ]
        assert self._dlq is not None
        self._dlq.send(
            record.key,
            record.value,
            headers,
            functools.partial(self._on_dead_lettered, item, error, reason),
        )

    def _on_dead_lettered(
        self, item: _Item, error: str, reason: str, exc: BaseException | None
    ) -> None:
        if exc is None:
            self._dlq_state.set("ok", "dead-letter topic writable again")
            self.metrics.dead_lettered.labels(error).inc()
            record = item.record
            log.warning(
                "message dead-lettered",
                extra={
                    "error": error,
                    "reason": reason[:300],
                    "topic": record.topic,
                    "partition": record.partition,
                    "offset": record.offset,
                    "dlq_topic": self.config.dlq_topic,
                },
            )
            self._ack((item,))
        else:
            self._events.put(("dlq", item, error, reason, exc))

    # -- failures (poll thread) -----------------------------------------------------

    def _handle_events(self) -> None:
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return
            if event[0] == "write":
                self._write_failed(event[1], event[2])
            else:
                _, item, error, reason, exc = event
                self._schedule_retry(("dlq", item, error, reason))
                self._dlq_state.set(
                    "failing",
                    "dead-letter topic not writable; retrying",
                    logging.WARNING,
                    error=str(exc)[:_MAX_REASON],
                    dlq_topic=self.config.dlq_topic,
                )

    def _write_failed(self, chunk: _Chunk, exc: BaseException) -> None:
        if is_rejection(exc):
            if len(chunk) > 1:
                # Find which row Cassandra refuses: write them one by one.
                for item in chunk:
                    self._submit((item,))
            else:
                self._dead_letter(chunk[0], "cassandra", f"{type(exc).__name__}: {exc}")
            return
        self._last_failure = time.monotonic()
        self.metrics.cassandra_up.set(0)
        self._cassandra_state.set(
            "failing",
            "Cassandra writes failing; consumption paused, retrying with backoff",
            logging.WARNING,
            error=f"{type(exc).__name__}: {exc}"[:_MAX_REASON],
        )
        self._schedule_retry(("write", chunk))

    def _schedule_retry(self, task: tuple[Any, ...]) -> None:
        self._retry.append(task)
        if self._retry_at is None:
            self._retry_at = time.monotonic() + self._backoff.next()

    def _maybe_retry(self, now: float) -> None:
        if self._retry_at is None or now < self._retry_at:
            return
        tasks, self._retry, self._retry_at = self._retry, [], None
        for task in tasks:
            if task[0] == "write":
                chunk = [i for i in task[1] if self._still_assigned(i)]
                if chunk:
                    self.metrics.write_retries.inc()
                    self._submit(chunk)
            elif self._still_assigned(task[1]):
                self._dead_letter(task[1], task[2], task[3])

    def _still_assigned(self, item: _Item) -> bool:
        # A record of a partition revoked meanwhile belongs to its new owner now.
        return self.tracker.owns(item.record.tp)

    def _check_recovery(self) -> None:
        writer = self._writer
        if self._cassandra_state.state != "failing" or writer is None:
            return
        if writer.last_success > self._last_failure:
            self._backoff.reset()
            self.metrics.cassandra_up.set(1)
            self._cassandra_state.set("ok", "Cassandra writes succeeding again; resuming")

    # -- commits and lag -------------------------------------------------------------

    def _commit(self, partitions: Iterable[Partition] | None = None) -> None:
        consumer = self._consumer
        offsets = self.tracker.committable(partitions)
        if not offsets or consumer is None:
            return
        self.tracker.sent(offsets)
        self.metrics.commits.inc()
        try:
            consumer.commit_async(offsets, self._on_committed)
        except Exception as exc:
            self.tracker.failed(offsets)
            log.warning("offset commit not sent", extra={"error": str(exc)[:_MAX_REASON]})

    def _on_committed(self, offsets: dict[Partition, int], exc: BaseException | None) -> None:
        if exc is not None:
            self.tracker.failed(offsets)
            self._commit_state.set(
                "failing", "offset commits failing; retrying", logging.WARNING, error=str(exc)[:300]
            )
        else:
            self._commit_state.set("ok", "offset commits succeeding again")

    def _update_lag(self, consumer: LogConsumer) -> None:
        for tp in self.tracker.partitions():
            high, position = consumer.highwater(tp), self.tracker.position(tp)
            if high is not None and position is not None:
                self.metrics.lag.labels(tp[0], str(tp[1])).set(max(0, high - position))

    # -- rebalance (the Kafka client's IO thread) -----------------------------------

    def on_assigned(self, partitions: list[Partition]) -> None:
        self.tracker.assign(partitions)
        log.info("partitions assigned", extra={"partitions": _names(partitions)})

    def on_revoked(self, partitions: list[Partition]) -> None:
        """Finish what is in flight for these partitions (briefly), commit, let go."""
        wait = 0.0 if self.stopping else self.config.revoke_wait
        self.tracker.wait_idle(partitions, wait)
        offsets = self.tracker.committable(partitions, unsent_only=False)
        consumer = self._consumer
        if offsets and consumer is not None:
            try:
                consumer.commit_async(offsets, self._on_committed)
            except Exception as exc:
                log.warning("commit on revocation failed", extra={"error": str(exc)[:300]})
        self.tracker.forget(partitions)
        self._forget_lag(partitions)
        log.info(
            "partitions revoked",
            extra={"partitions": _names(partitions), "committed": _names(offsets.items())},
        )

    def on_lost(self, partitions: list[Partition]) -> None:
        """Evicted from the group: the new owner starts from the last commit."""
        self.tracker.forget(partitions)
        self._forget_lag(partitions)
        log.warning("partitions lost", extra={"partitions": _names(partitions)})

    def _forget_lag(self, partitions: Iterable[Partition]) -> None:
        for topic, partition in partitions:
            with contextlib.suppress(KeyError):
                self.metrics.lag.remove(topic, str(partition))

    # -- shutdown --------------------------------------------------------------------

    def _shutdown(self) -> None:
        started = self._stop_at or time.monotonic()
        deadline = started + self.config.shutdown_timeout

        def left(cap: float) -> float:
            return max(0.1, min(cap, deadline - time.monotonic() - 0.5))

        consumer, dlq, store = self._consumer, self._dlq, self._store
        if consumer is not None:
            offsets = self.tracker.committable(unsent_only=False)
            if offsets:
                try:
                    consumer.commit(offsets, timeout=left(5.0))
                    log.info("offsets committed", extra={"offsets": _names(offsets.items())})
                except Exception as exc:
                    log.warning("final commit failed", extra={"error": str(exc)[:300]})
            try:
                consumer.close(timeout=left(5.0))
            except Exception as exc:
                log.warning("consumer close failed", extra={"error": str(exc)[:300]})
        if dlq is not None:
            dlq.close(timeout=left(2.0))
        if store is not None:
            store.close()
        if self._health is not None:
            self._health.stop()
        log.info("stopped")


def _tune_gc() -> None:
    """Keep the cyclic garbage collector from rescanning the clients' long-lived objects.

    Every record makes a few dozen short-lived objects; with the default thresholds a
    full collection runs every few thousand records and walks every object of the Kafka
    client and the Cassandra driver each time (measured: a third of the throughput).
    Objects alive once connected are frozen (never scanned again) and collections run
    less often; the per-record objects are freed by reference counting anyway.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def _names(partitions: Iterable[Any]) -> list[str]:
    out = []
    for item in partitions:
        if isinstance(item[0], tuple):
            (topic, partition), offset = item
            out.append(f"{topic}-{partition}@{offset}")
        else:
            out.append(f"{item[0]}-{item[1]}")
    return out

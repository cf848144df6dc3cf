"""Each consumed record to its end: a row Cassandra acknowledged, or a dead letter.

The poll thread hands records in (``ingest``): their offsets are tracked, their rows
built (``rows``) and written in batches. Completions come back on the driver's and the
Kafka client's threads and mark offsets done in the ``OffsetTracker``; failures are
queued for the poll thread, which deals with them on its next turn (``turn``), by the
``Fault`` the error is: a batch Cassandra refuses (``ROW``) is written row by row to find
the refused row, which is dead-lettered; an outage (``RETRY``) or a table gone
(``STREAM``, logged as an error: nothing is dead-lettered, nothing committed past) is
retried with backoff, and consumption of every partition stays paused (``backlogged``)
until the retries are sent. A dead letter the topic does not take pauses only its own
partition (``held``).
"""

from __future__ import annotations

import functools
import logging
import queue
import time
from collections.abc import Callable

from logpipe.cassandra import Fault, RowWriter, classify
from logpipe.kafka import ConsumedRecord, DeadLetterProducer, Partition
from logpipe.kafka2cassandra.config import PollerConfig
from logpipe.kafka2cassandra.dead_letter import MAX_REASON, DeadLetters
from logpipe.kafka2cassandra.metrics import PollerMetrics
from logpipe.kafka2cassandra.offsets import OffsetTracker
from logpipe.kafka2cassandra.rows import (
    Chunk,
    Item,
    Unstorable,
    batches,
    build_row,
)
from logpipe.observability import StateLog, get_logger

log = get_logger("poller")


class Delivery:
    """Writes consumed records as rows (or dead-letters them) and marks them done.

    ``writer`` and ``dead_letter_producer`` are injected: anything with ``RowWriter``'s
    ``partition_of``/``expired``/``submit``/``queued``/``max_in_flight``/``last_success`` and
    ``DeadLetterProducer``'s ``send`` will do. ``assignment`` returns the partitions the
    consumer holds now.
    """

    def __init__(
        self,
        config: PollerConfig,
        writer: RowWriter,
        dead_letter_producer: DeadLetterProducer,
        tracker: OffsetTracker,
        metrics: PollerMetrics,
        assignment: Callable[[], set[Partition]] = set,
    ) -> None:
        self.config = config
        self.tracker = tracker
        self.metrics = metrics
        self._writer = writer
        self._assignment = assignment
        self._dead_letters = DeadLetters(
            dead_letter_producer,
            config.dlq_topic,
            metrics,
            self._ack_one,
            config.backoff(),
            self.tracker.owns,
        )
        #: Failures reported by other threads, for the poll thread.
        self._events: queue.SimpleQueue[tuple[Chunk, BaseException]] = queue.SimpleQueue()
        self._retry: list[Chunk] = []
        self._retry_at: float | None = None
        self._backoff = config.backoff()
        self._last_failure = 0.0
        self._cassandra_state = StateLog(log)

    # -- the poll thread's view -----------------------------------------------------

    @property
    def cassandra_failing(self) -> bool:
        """Writes fail: Cassandra is out, or the table is gone."""
        return self._cassandra_state.state in ("failing", "schema missing")

    @property
    def held(self) -> set[Partition]:
        """Partitions to pause while the others flow: a dead letter of theirs failed."""
        return self._dead_letters.held

    @property
    def backlogged(self) -> bool:
        """Retries wait, or the writer has as many requests queued as it sends at once."""
        writer = self._writer
        return bool(self._retry) or writer.queued >= writer.max_in_flight

    @property
    def drained(self) -> bool:
        """Nothing waits for a retry and every record received is done."""
        return not self._retry and self.tracker.in_flight() == 0

    def ingest(self, records: list[ConsumedRecord]) -> None:
        """Track, decode, and write (or dead-letter) one poll's records."""
        tracker, mode = self.tracker, self.config.log_id_mode
        received: dict[Partition, list[int]] = {}
        for record in records:
            received.setdefault((record.topic, record.partition), []).append(record.offset)
        epochs = {tp: tracker.add_many(tp, offsets) for tp, offsets in received.items()}
        for tp, epoch in epochs.items():
            if epoch == 0 and tp in self._assignment():
                # Fetched between the client taking the assignment and our listener
                # hearing of it (another thread): the partition is ours, track it.
                tracker.assign([tp])
                epochs[tp] = tracker.add_many(tp, received[tp])
        stored: list[Item] = []
        expired = self._writer.expired
        for record in records:
            item = Item(record, epochs[record.topic, record.partition])
            try:
                item.row = build_row(record, mode)
            except Unstorable as exc:
                self._dead_letters.send(item, exc.error, exc.reason)
                continue
            if expired(item.row):
                # Past the table's retention: a row Cassandra would drop at once.
                self.metrics.expired.inc()
                self._ack_one(item)
                continue
            stored.append(item)
        self.metrics.consumed.inc(len(records))
        key = self._writer.partition_of
        for chunk in batches(stored, self.config.batch_rows, key=key):
            self._submit(chunk)

    def turn(self, now: float) -> None:
        """Deal with failures reported since the last turn, send retries that are due,
        and notice when Cassandra accepts writes again."""
        self._handle_events()
        self._dead_letters.turn(now)
        self._maybe_retry(now)
        self._check_recovery()

    # -- sending ----------------------------------------------------------------------

    def _submit(self, chunk: Chunk) -> None:
        self._writer.submit(
            [item.row for item in chunk if item.row is not None],
            functools.partial(self._on_written, chunk),
        )

    # -- completions (driver and Kafka client threads) ----------------------------------

    def _ack(self, chunk: Chunk) -> None:
        if len(chunk) == 1:
            self._ack_one(chunk[0])
            return
        by_partition: dict[tuple[Partition, int], list[int]] = {}
        for item in chunk:
            by_partition.setdefault((item.record.tp, item.epoch), []).append(item.record.offset)
        for (tp, epoch), offsets in by_partition.items():
            self.tracker.done(tp, epoch, offsets)

    def _ack_one(self, item: Item) -> None:
        self.tracker.done(item.record.tp, item.epoch, (item.record.offset,))

    def _on_written(self, chunk: Chunk, exc: BaseException | None, latency: float) -> None:
        self.metrics.write_latency.observe(latency)
        if exc is None:
            self.metrics.written.inc(len(chunk))
            self._ack(chunk)
        else:
            self._events.put((chunk, exc))

    # -- failures (poll thread) -----------------------------------------------------

    def _handle_events(self) -> None:
        while True:
            try:
                chunk, exc = self._events.get_nowait()
            except queue.Empty:
                return
            self._write_failed(chunk, exc)

    def _write_failed(self, chunk: Chunk, exc: BaseException) -> None:
        fault = classify(exc)
        error = f"{type(exc).__name__}: {exc}"
        if fault is Fault.ROW:
            if len(chunk) > 1:
                # Find which row Cassandra refuses: write them one by one.
                for item in chunk:
                    self._submit((item,))
            else:
                self._dead_letters.send(chunk[0], "cassandra", error)
            return
        self._last_failure = time.monotonic()
        self.metrics.cassandra_up.set(0)
        if fault is Fault.STREAM:
            self.metrics.schema_missing.set(1)
            self._cassandra_state.set(
                "schema missing",
                f"the table {self.config.keyspace}.{self.config.table} cannot be written: it or "
                "its keyspace does not exist; consumption paused, nothing dead-lettered, "
                "writing again until it is back (`kafka2cassandra schema` creates it)",
                logging.ERROR,
                error=error[:MAX_REASON],
            )
        else:
            self._cassandra_state.set(
                "failing",
                "Cassandra writes failing; consumption paused, retrying with backoff",
                logging.WARNING,
                error=error[:MAX_REASON],
            )
        self._retry.append(chunk)
        if self._retry_at is None:
            self._retry_at = time.monotonic() + self._backoff.next()

    def _maybe_retry(self, now: float) -> None:
        if self._retry_at is None or now < self._retry_at:
            return
        chunks, self._retry, self._retry_at = self._retry, [], None
        for chunk in chunks:
            # A record of a partition revoked meanwhile belongs to its new owner now.
            kept = [item for item in chunk if self.tracker.owns(item.record.tp)]
            if kept:
                self.metrics.write_retries.inc()
                self._submit(kept)

    def _check_recovery(self) -> None:
        if not self.cassandra_failing:
            return
        if self._writer.last_success > self._last_failure:
            self._backoff.reset()
            self.metrics.cassandra_up.set(1)
            self.metrics.schema_missing.set(0)
            self._cassandra_state.set("ok", "Cassandra writes succeeding again; resuming")

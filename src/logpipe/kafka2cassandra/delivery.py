"""Each consumed record to its end: a row Cassandra acknowledged, or a dead letter.

The poll thread hands records in (``ingest``): their offsets are tracked, their rows
built (``rows``) and written in batches. Completions come back on the driver's and the
Kafka client's threads and mark offsets done in the ``OffsetTracker``; failures are
queued for the poll thread, which deals with them on its next turn (``turn``): a batch
Cassandra refuses is written row by row to find the refused row, which is dead-lettered;
any other failure is retried with backoff, and consumption stays paused (``backlogged``)
until the retries are sent.
"""

from __future__ import annotations

import functools
import logging
import queue
import time
from collections.abc import Callable
from typing import Any

from logpipe.cassandra import RowWriter, is_rejection
from logpipe.kafka import ConsumedRecord, DeadLetterProducer, Partition
from logpipe.kafka2cassandra.config import PollerConfig
from logpipe.kafka2cassandra.dead_letter import MAX_REASON, DeadLetters
from logpipe.kafka2cassandra.metrics import PollerMetrics
from logpipe.kafka2cassandra.offsets import OffsetTracker
from logpipe.kafka2cassandra.rows import Chunk, Item, Unstorable, batches, build_row
from logpipe.observability import StateLog, get_logger

log = get_logger("poller")


class Delivery:
    """Writes consumed records as rows (or dead-letters them) and marks them done.

    ``writer`` and ``dead_letter_producer`` are injected: anything with ``RowWriter``'s
    ``submit``/``queued``/``max_in_flight``/``last_success`` and ``DeadLetterProducer``'s
    ``send`` will do. ``assignment`` returns the partitions the consumer holds now.
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
            self._dead_letter_failed,
        )
        #: Failures reported by other threads, for the poll thread.
        self._events: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._retry: list[tuple[Any, ...]] = []
        self._retry_at: float | None = None
        self._backoff = config.backoff()
        self._last_failure = 0.0
        self._cassandra_state = StateLog(log)

    # -- the poll thread's view -----------------------------------------------------

    @property
    def cassandra_failing(self) -> bool:
        return self._cassandra_state.state == "failing"

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
            received.setdefault(record.tp, []).append(record.offset)
        epochs = {tp: tracker.add_many(tp, offsets) for tp, offsets in received.items()}
        for tp, epoch in epochs.items():
            if epoch == 0 and tp in self._assignment():
                # Fetched between the client taking the assignment and our listener
                # hearing of it (another thread): the partition is ours, track it.
                tracker.assign([tp])
                epochs[tp] = tracker.add_many(tp, received[tp])
        stored: list[Item] = []
        for record in records:
            item = Item(record, epochs[record.tp])
            try:
                item.row = build_row(record, mode)
            except Unstorable as exc:
                self._dead_letters.send(item, exc.error, exc.reason)
                continue
            stored.append(item)
        self.metrics.consumed.inc(len(records))
        for chunk in batches(stored, self.config.batch_rows):
            self._submit(chunk)

    def turn(self, now: float) -> None:
        """Deal with failures reported since the last turn, send retries that are due,
        and notice when Cassandra accepts writes again."""
        self._handle_events()
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
            self._events.put(("write", chunk, exc))

    def _dead_letter_failed(self, item: Item, error: str, reason: str, exc: BaseException) -> None:
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
                self._dead_letters.failing(exc)

    def _write_failed(self, chunk: Chunk, exc: BaseException) -> None:
        if is_rejection(exc):
            if len(chunk) > 1:
                # Find which row Cassandra refuses: write them one by one.
                for item in chunk:
                    self._submit((item,))
            else:
                self._dead_letters.send(chunk[0], "cassandra", f"{type(exc).__name__}: {exc}")
            return
        self._last_failure = time.monotonic()
        self.metrics.cassandra_up.set(0)
        self._cassandra_state.set(
            "failing",
            "Cassandra writes failing; consumption paused, retrying with backoff",
            logging.WARNING,
            error=f"{type(exc).__name__}: {exc}"[:MAX_REASON],
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
                self._dead_letters.send(task[1], task[2], task[3])

    def _still_assigned(self, item: Item) -> bool:
        # A record of a partition revoked meanwhile belongs to its new owner now.
        return self.tracker.owns(item.record.tp)

    def _check_recovery(self) -> None:
        if self._cassandra_state.state != "failing":
            return
        if self._writer.last_success > self._last_failure:
            self._backoff.reset()
            self.metrics.cassandra_up.set(1)
            self._cassandra_state.set("ok", "Cassandra writes succeeding again; resuming")

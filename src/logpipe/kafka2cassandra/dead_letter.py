"""Routing records aside: the original bytes to the dead-letter topic, the reason in headers.

A record goes aside when it can never be stored (not an envelope, a time that is not a
time, a row Cassandra refuses). Its offset counts as done only once the dead-letter
topic acknowledged it, so a record is never dropped silently. A dead letter the topic
does not take holds up its own partition only: that partition is paused (``held``)
while the letter is retried with backoff; the others flow on.
"""

from __future__ import annotations

import functools
import logging
import queue
from collections.abc import Callable

from logpipe import retry
from logpipe.kafka import ConsumedRecord, DeadLetterProducer, Partition
from logpipe.kafka.dead_letter import ORIGINAL_SIZE
from logpipe.kafka2cassandra.metrics import PollerMetrics
from logpipe.kafka2cassandra.rows import Item
from logpipe.observability import StateLog, get_logger

log = get_logger("poller")

#: Headers added to a dead letter (after the original record's own headers).
DLQ_ERROR = "logpipe.error"
DLQ_REASON = "logpipe.error.reason"
DLQ_TOPIC = "logpipe.source.topic"
DLQ_PARTITION = "logpipe.source.partition"
DLQ_OFFSET = "logpipe.source.offset"
#: On a dead letter cut to fit its topic: the original value's length in bytes.
DLQ_ORIGINAL_SIZE = ORIGINAL_SIZE
#: Longest reason kept (in a header, and in a log line's ``error``).
MAX_REASON = 2000

Header = tuple[str, bytes]


def dead_letter_headers(record: ConsumedRecord, error: str, reason: str) -> list[Header]:
    """The record's own headers, then what went wrong and where the record came from."""
    return [
        *record.headers,
        (DLQ_ERROR, error.encode()),
        (DLQ_REASON, reason.encode("utf-8", "replace")),
        (DLQ_TOPIC, record.topic.encode()),
        (DLQ_PARTITION, str(record.partition).encode()),
        (DLQ_OFFSET, str(record.offset).encode()),
    ]


#: Called with a dead-lettered item once the topic acknowledged it (a Kafka client thread).
Stored = Callable[[Item], None]
#: Whether the poller still owns a partition (a letter of a revoked one is not retried).
Owns = Callable[[Partition], bool]


class DeadLetters:
    """Sends records to the dead-letter topic and retries the ones it did not take.

    ``send`` runs on the poll thread; the outcome arrives on the producer's threads: a
    success is handed to ``stored``, a failure is queued for the poll thread, which on
    its next ``turn`` holds the letter's partition (``held``) and sends the letter again
    once ``backoff`` allows. A partition stays held until all its failed letters are
    acknowledged. The outage is logged once when it starts and once when it ends.
    """

    def __init__(
        self,
        producer: DeadLetterProducer,
        topic: str,
        metrics: PollerMetrics,
        stored: Stored,
        backoff: retry.Backoff | None = None,
        owns: Owns = lambda _tp: True,
    ) -> None:
        self.topic = topic
        self._producer = producer
        self._metrics = metrics
        self._stored = stored
        self._backoff = backoff or retry.Backoff()
        self._owns = owns
        self._state = StateLog(log, "ok")
        #: Outcomes for the poll thread: (item, error, reason, exception or None).
        self._events: queue.SimpleQueue[tuple[Item, str, str, BaseException | None]] = (
            queue.SimpleQueue()
        )
        #: Letters that failed and are not yet acknowledged, by id(item).
        self._failing: dict[int, tuple[Item, str, str]] = {}
        self._retry_at: float | None = None

    @property
    def held(self) -> set[Partition]:
        """The partitions with a dead letter the topic has not taken yet (poll thread)."""
        return {item.record.tp for item, _, _ in self._failing.values()}

    @property
    def failing(self) -> bool:
        return bool(self._failing)

    def send(self, item: Item, error: str, reason: str) -> None:
        record = item.record
        reason = reason[:MAX_REASON]
        self._producer.send(
            record.key,
            record.value,
            dead_letter_headers(record, error, reason),
            functools.partial(self._on_sent, item, error, reason),
        )

    def turn(self, now: float) -> None:
        """Take in the outcomes since the last turn, and resend the failed letters when
        their backoff is over (poll thread)."""
        while True:
            try:
                item, error, reason, exc = self._events.get_nowait()
            except queue.Empty:
                break
            if exc is None:
                self._failing.pop(id(item), None)
            else:
                self._failed(item, error, reason, exc, now)
        if not self._failing and self._state.state != "ok":
            self._backoff.reset()
            self._retry_at = None
            self._state.set("ok", "dead-letter topic writable again; partitions resumed")
        if self._retry_at is not None and now >= self._retry_at:
            self._retry_at = None
            for key, (item, error, reason) in list(self._failing.items()):
                if self._owns(item.record.tp):
                    self.send(item, error, reason)
                else:  # revoked meanwhile: its new owner reads it again
                    del self._failing[key]
        self._metrics.dead_letter_held.set(len(self.held))

    def _failed(self, item: Item, error: str, reason: str, exc: BaseException, now: float) -> None:
        self._metrics.dead_letter_failures.inc()
        self._failing[id(item)] = (item, error, reason)
        if self._retry_at is None:
            self._retry_at = now + self._backoff.next()
        self._state.set(
            "failing",
            "dead-letter topic not writable; the partitions of its letters paused, retrying",
            logging.WARNING,
            error=f"{type(exc).__name__}: {exc}"[:MAX_REASON],
            dlq_topic=self.topic,
            partitions=sorted(self.held),
        )

    def _on_sent(self, item: Item, error: str, reason: str, exc: BaseException | None) -> None:
        if exc is not None:
            self._events.put((item, error, reason, exc))
            return
        self._metrics.dead_lettered.labels(error).inc()
        record = item.record
        log.warning(
            "message dead-lettered",
            extra={
                "error": error,
                "reason": reason[:300],
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "dlq_topic": self.topic,
            },
        )
        self._stored(item)
        if id(item) in self._failing:
            self._events.put((item, error, reason, None))

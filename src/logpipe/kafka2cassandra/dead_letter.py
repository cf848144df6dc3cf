"""Routing records aside: the original bytes to the dead-letter topic, the reason in headers.

A record goes aside when it can never be stored (not an envelope, a time that is not a
time, a row Cassandra refuses). Its offset counts as done only once the dead-letter
topic acknowledged it, so a record is never dropped silently.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from logpipe.kafka import ConsumedRecord, DeadLetterProducer
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
#: Called with the item, error, reason and the send's exception when it failed.
Failed = Callable[[Item, str, str, BaseException], None]


class DeadLetters:
    """Sends records to the dead-letter topic and reports each outcome.

    ``send`` runs on the poll thread; the outcome arrives on the producer's thread and is
    handed to ``stored`` or ``failed`` (which must be quick: the caller retries a failed
    send on its own thread, and calls ``failing`` there to log the outage once).
    """

    def __init__(
        self,
        producer: DeadLetterProducer,
        topic: str,
        metrics: PollerMetrics,
        stored: Stored,
        failed: Failed,
    ) -> None:
        self.topic = topic
        self._producer = producer
        self._metrics = metrics
        self._stored = stored
        self._failed = failed
        self._state = StateLog(log, "ok")

    def send(self, item: Item, error: str, reason: str) -> None:
        record = item.record
        reason = reason[:MAX_REASON]
        self._producer.send(
            record.key,
            record.value,
            dead_letter_headers(record, error, reason),
            functools.partial(self._on_sent, item, error, reason),
        )

    def failing(self, exc: BaseException) -> None:
        """A send failed and will be retried (logged once per outage)."""
        self._state.set(
            "failing",
            "dead-letter topic not writable; retrying",
            logging.WARNING,
            error=str(exc)[:MAX_REASON],
            dlq_topic=self.topic,
        )

    def _on_sent(self, item: Item, error: str, reason: str, exc: BaseException | None) -> None:
        if exc is not None:
            self._failed(item, error, reason, exc)
            return
        self._state.set("ok", "dead-letter topic writable again")
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

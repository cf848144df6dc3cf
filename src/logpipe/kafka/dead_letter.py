"""The dead-letter producer: where kafka2cassandra puts the records it cannot store.

``send`` never blocks its caller (the poll loop): letters are queued to a thread of
their own, which hands them to the client, whose ``send`` may wait up to
``max_block_ms`` for the topic's metadata (a topic missing, or not creatable). When that
wait fails, the letters queued behind it fail at once with the same error instead of
waiting their turn, so a missing topic costs one wait per retry round, not one a letter.

A letter larger than the topic (``max.message.bytes``) or the client
(``max_request_size``) takes is made to fit: its value is halved until the broker takes
it, and the ``ORIGINAL_SIZE`` header says how long it was. Only a letter refused even
with an empty value and no key fails (``DeadLetterTooLarge``): the topic is unwritable.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from logpipe.config.connections import KafkaConnection
from logpipe.kafka.config import kafka_python_client
from logpipe.kafka.consumer import Header
from logpipe.kafka.errors import KafkaUnavailable
from logpipe.observability import get_logger

log = get_logger("dead_letter")

AckCallback = Callable[[BaseException | None], None]

#: Header of a letter whose value was cut to fit: the original value's length in bytes.
ORIGINAL_SIZE = "logpipe.original.size"
#: Header of a letter whose key had to go too: the original key's length in bytes.
ORIGINAL_KEY_SIZE = "logpipe.original.key.size"


class DeadLetterTooLarge(Exception):
    """The topic refuses the letter even with an empty value and no key: its
    ``max.message.bytes`` is below what the headers alone take."""


@dataclass(slots=True)
class _Letter:
    key: bytes | None
    value: bytes | None
    headers: list[Header]
    on_ack: AckCallback
    #: The original value's length once cut (None: sent whole).
    original: int | None = None


class DeadLetterProducer:
    """Produces records that cannot be stored to the dead-letter topic.

    ``acks=all``: the poller commits a poison record's offset only once its dead letter
    is acknowledged, so it is never lost. Not idempotent: kafka-python (3.0) turns an
    idempotent producer unusable for good once the broker refuses one record (a letter
    over the topic's size limit), so a letter may be written twice when an
    acknowledgement is lost and the client resends it; its ``logpipe.source.*`` headers
    tell such a copy apart.
    """

    def __init__(
        self,
        conn: KafkaConnection,
        topic: str,
        connect_timeout_ms: int = 10_000,
        max_block_ms: int = 2_000,
    ) -> None:
        from kafka import KafkaProducer
        from kafka.errors import (
            KafkaTimeoutError,
            MessageSizeTooLargeError,
            RecordListTooLargeError,
        )

        self.topic = topic
        self._producer = kafka_python_client(
            KafkaProducer,
            conn,
            acks="all",
            enable_idempotence=False,
            max_in_flight_requests_per_connection=1,
            linger_ms=5,
            max_block_ms=max_block_ms,
            bootstrap_timeout_ms=connect_timeout_ms,
            reconnect_backoff_max_ms=2_000,
            client_id="kafka2cassandra-dlq",
        )
        self._timeout_error = KafkaTimeoutError
        self._too_large = (MessageSizeTooLargeError, RecordListTooLargeError)
        self._queue: queue.SimpleQueue[_Letter | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="dead-letters", daemon=True)
        self._thread.start()

    def send(
        self,
        key: bytes | None,
        value: bytes | None,
        headers: list[Header],
        on_ack: AckCallback,
    ) -> None:
        """Queue one dead letter; ``on_ack(None)`` once Kafka has it, else the error
        (called on the producer's threads)."""
        self._queue.put(_Letter(key, value, list(headers), on_ack))

    # -- the sending thread ---------------------------------------------------------

    def _run(self) -> None:
        while True:
            letter = self._queue.get()
            if letter is None:
                return
            self._produce(letter)

    def _produce(self, letter: _Letter) -> None:
        try:
            future = self._producer.send(
                self.topic, value=letter.value, key=letter.key, headers=letter.headers
            )
        except self._too_large as exc:
            self._cut(letter, exc)
            return
        except self._timeout_error as exc:
            error = KafkaUnavailable(f"{type(exc).__name__}: {exc}")
            _ack(letter, error)
            self._fail_queued(error)
            return
        except Exception as exc:  # the client closed, or refused the letter outright
            _ack(letter, exc)
            return
        future.add_callback(lambda _metadata: self._on_sent(letter))
        future.add_errback(lambda exc: self._on_error(letter, exc))

    def _on_sent(self, letter: _Letter) -> None:
        if letter.original is not None:
            log.warning(
                "dead letter too large for its topic: sent with its value cut",
                extra={
                    "dlq_topic": self.topic,
                    "bytes": letter.original,
                    "kept": len(letter.value or b""),
                },
            )
        _ack(letter, None)

    def _on_error(self, letter: _Letter, exc: BaseException) -> None:
        if isinstance(exc, self._too_large):
            self._cut(letter, exc)
        else:
            _ack(letter, exc)

    def _fail_queued(self, error: BaseException) -> None:
        """Fail every letter queued now with ``error`` (the topic's metadata is not to be
        had: each would wait ``max_block_ms`` in turn for the same answer)."""
        while True:
            try:
                letter = self._queue.get_nowait()
            except queue.Empty:
                return
            if letter is None:
                self._queue.put(None)  # closing: keep the sentinel for the loop
                return
            _ack(letter, error)

    def _cut(self, letter: _Letter, exc: BaseException) -> None:
        """Send ``letter`` again, smaller: half its value; once the value is empty, no key."""
        value, key, headers = letter.value or b"", letter.key, letter.headers
        original = letter.original if letter.original is not None else len(value)
        if value:
            value = value[: len(value) // 2]
            headers = [h for h in headers if h[0] != ORIGINAL_SIZE]
            headers.append((ORIGINAL_SIZE, str(original).encode()))
        elif key:
            headers = [*headers, (ORIGINAL_KEY_SIZE, str(len(key)).encode())]
            key = None
        else:
            _ack(letter, DeadLetterTooLarge(f"{self.topic} refuses even an empty letter: {exc}"))
            return
        self._queue.put(_Letter(key, value, headers, letter.on_ack, original))

    # -- lifecycle --------------------------------------------------------------------

    def flush(self, timeout: float) -> bool:
        try:
            self._producer.flush(timeout=timeout)
        except self._timeout_error:
            return False
        return True

    def close(self, timeout: float = 5.0) -> None:
        self._queue.put(None)
        self._thread.join(max(timeout / 2, 0.1))
        try:
            self._producer.close(timeout=max(timeout / 2, 0.0))
        except self._timeout_error:
            self._producer.close(timeout=0)


def _ack(letter: _Letter, exc: BaseException | None) -> None:
    try:
        letter.on_ack(exc)
    except Exception:
        log.exception("dead-letter callback failed")

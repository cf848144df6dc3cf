"""The producer as logs2kafka sees it, whichever client library is behind it.

``ProducerSettings`` + ``open_producer`` (kafka-python by default, confluent-kafka
with ``--kafka-client confluent``).

The producer is built for at-least-once delivery without reordering: ``acks=all``,
idempotence, unlimited retries within a long delivery timeout, at most 5 requests in
flight. A record the client finally gives up on is reported to ``on_ack`` with the
error, so the caller can send it again instead of losing it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from logpipe.config.connections import KafkaConnection
from logpipe.config.settings import BATCH_SIZE, COMPRESSION, KAFKA_CLIENT, LINGER_MS, MAX_IN_FLIGHT
from logpipe.kafka.errors import access_checked

#: Compression codecs offered on the command line (``none`` = uncompressed).
COMPRESSIONS: tuple[str, ...] = COMPRESSION.choices or ()
#: Client libraries behind ``Producer``.
CLIENTS: tuple[str, ...] = KAFKA_CLIENT.choices or ()
#: The largest request each client sends (set explicitly, so these numbers are the truth):
#: kafka-python's ``max_request_size``, librdkafka's ``message.max.bytes``.
CLIENT_MAX_REQUEST_BYTES: dict[str, int] = {"kafka-python": 1_048_576, "confluent": 1_000_000}
#: Bytes a one-record batch adds around its value besides the key: the batch header
#: (61), the record's varints and attributes, and what a codec adds to data it cannot
#: compress. Generous, so that a value within ``value_limit`` is never refused for size.
RECORD_OVERHEAD = 512


def value_limit(max_message_bytes: int, key: bytes) -> int:
    """The largest message value that, with ``key``, fits a ``max_message_bytes`` batch."""
    return max_message_bytes - RECORD_OVERHEAD - len(key)


class _NoToken:
    def __repr__(self) -> str:
        return "NO_TOKEN"


#: ``send(..., token=NO_TOKEN)``: call ``on_ack(error)`` without a token.
NO_TOKEN: Any = _NoToken()


@dataclass(frozen=True)
class ProducerSettings:
    """How records are batched, compressed and retried; the defaults favour throughput
    with ``acks=all`` and idempotence (no loss, no duplicates from retries)."""

    compression: str = COMPRESSION.default
    linger_ms: int = LINGER_MS.default
    batch_size: int = BATCH_SIZE.default
    max_in_flight: int = MAX_IN_FLIGHT.default
    #: How long the client keeps retrying one record before reporting it failed
    #: (then the caller re-sends it). Long, so a broker restart is ridden out inside
    #: the client, in order.
    delivery_timeout_ms: int = 10 * 60 * 1000
    request_timeout_ms: int = 30_000
    #: How long ``send`` may block when the topic's metadata is unknown (Kafka down).
    max_block_ms: int = 2_000
    #: How long opening the producer waits for a first broker.
    connect_timeout_ms: int = 5_000
    #: Cap on the wait between reconnection attempts, so shipping resumes soon after
    #: Kafka is back.
    reconnect_backoff_max_ms: int = 2_000
    client: str = KAFKA_CLIENT.default

    def __post_init__(self) -> None:
        if self.compression not in COMPRESSIONS:
            raise ValueError(f"compression must be one of {', '.join(COMPRESSIONS)}")
        if self.client not in CLIENTS:
            raise ValueError(f"Kafka client must be one of {', '.join(CLIENTS)}")
        if not 1 <= self.max_in_flight <= 5:
            # More than 5 in flight breaks the idempotent producer's ordering guarantee.
            raise ValueError("max in flight must be between 1 and 5")
        if self.linger_ms < 0 or self.batch_size < 1:
            raise ValueError("linger must be >= 0 and batch size >= 1")


class Producer(Protocol):
    """What the forwarder needs from a Kafka producer, whichever library is behind it."""

    topic: str
    #: The largest record batch the topic accepts, learned from the broker when the
    #: producer opened (capped by the client's own request limit).
    max_message_bytes: int

    def send(
        self, key: bytes, value: bytes, on_ack: Callable[..., None], token: Any = NO_TOKEN
    ) -> None:
        """Queue one record; ``on_ack(None)`` once Kafka acknowledged it (acks=all),
        ``on_ack(error)`` if the client gave up on it. ``on_ack`` runs inside
        ``poll``/``flush``, on the caller's thread, with either client.

        With a ``token``, ``on_ack(error, token)`` is called instead: one callback
        shared by every record, rather than a closure per record (memory per pending
        line, at tens of thousands of lines in flight).

        Raises KafkaUnavailable when it cannot even be queued (topic metadata unknown
        while Kafka is down): the caller keeps the record and tries later; RecordRefused
        when the client refuses this record itself (too large); KafkaAccessDenied when
        nothing can be sent."""
        ...

    def poll(self, timeout: float = 0.0) -> None:
        """Deliver the answers that came back: call the ``on_ack`` of those records."""
        ...

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything queued and wait for the answers; True if all came back."""
        ...

    def close(self, timeout: float = 5.0) -> None:
        """Flush for at most ``timeout`` seconds, then release connections and threads."""
        ...


def open_producer(
    conn: KafkaConnection, topic: str, settings: ProducerSettings | None = None
) -> Producer:
    """A connected producer for ``topic``.

    The topic's ``max.message.bytes`` is asked of the broker first: it becomes the
    producer's ``max_message_bytes`` (capped by the client's request limit) and caps the
    batch size, so that no batch of small records is refused either.

    Raises KafkaUnavailable if no broker answers (worth retrying), KafkaAccessDenied if
    one answered and refused the credentials or the certificate (not worth it).
    """
    # The clients build on the settings defined here, so they are imported when needed.
    from logpipe.kafka.confluent import ConfluentProducer
    from logpipe.kafka.kafka_python import KafkaPythonProducer
    from logpipe.kafka.topic_config import topic_max_message_bytes

    settings = settings or ProducerSettings()
    with access_checked(conn):
        cap = CLIENT_MAX_REQUEST_BYTES[settings.client]
        learned = topic_max_message_bytes(conn, topic, settings.client)
        limit = cap if learned is None else min(learned, cap)
        settings = replace(settings, batch_size=min(settings.batch_size, limit))
        if settings.client == "confluent":
            return ConfluentProducer(conn, topic, settings, limit)
        return KafkaPythonProducer(conn, topic, settings, limit)

"""The fast producer: confluent-kafka (librdkafka), installed with ``logpipe[fast]``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from logpipe.config.connections import KafkaConnection
from logpipe.kafka.client_logs import CLIENT_LOG_FILTER
from logpipe.kafka.config import build_confluent_config
from logpipe.kafka.errors import KafkaUnavailable, refusal
from logpipe.kafka.producer import CLIENT_MAX_REQUEST_BYTES, NO_TOKEN, ProducerSettings
from logpipe.kafka.surface import CONFLUENT_MISSING


def import_confluent() -> Any:
    """The confluent-kafka module, or RuntimeError naming the extra that installs it."""
    try:
        import confluent_kafka
    except ImportError as exc:
        raise RuntimeError(CONFLUENT_MISSING) from exc
    return confluent_kafka


class ConfluentProducer:
    """The fast producer: confluent-kafka (librdkafka), installed with ``logpipe[fast]``.

    Delivery callbacks run inside ``poll``/``flush`` on the calling thread. Partitioning
    uses murmur2 like the Java client and kafka-python, so switching clients keeps one
    host's lines on the same partition.
    """

    def __init__(
        self,
        conn: KafkaConnection,
        topic: str,
        settings: ProducerSettings,
        max_message_bytes: int = CLIENT_MAX_REQUEST_BYTES["confluent"],
    ) -> None:
        confluent_kafka = import_confluent()
        self._ck = confluent_kafka
        self.topic = topic
        self.settings = settings
        self.max_message_bytes = max_message_bytes
        config = build_confluent_config(conn)
        config.update(
            {
                "acks": "all",
                "enable.idempotence": True,
                "compression.type": settings.compression,
                "linger.ms": settings.linger_ms,
                "batch.size": settings.batch_size,
                "message.max.bytes": CLIENT_MAX_REQUEST_BYTES["confluent"],
                "max.in.flight.requests.per.connection": settings.max_in_flight,
                "message.timeout.ms": settings.delivery_timeout_ms,
                "request.timeout.ms": settings.request_timeout_ms,
                "reconnect.backoff.max.ms": settings.reconnect_backoff_max_ms,
                "partitioner": "murmur2_random",
                "queue.buffering.max.messages": 1_000_000,
                "client.id": "logs2kafka",
                # librdkafka's own log lines and errors go through Python logging, where
                # repetitions during an outage are dropped (see client_logs._OncePerMessage).
                "logger": CONFLUENT_LOG,
                "error_cb": _confluent_error,
            }
        )
        self._producer = confluent_kafka.Producer(config)
        # librdkafka connects lazily: ask for the topic's metadata now, so a wrong
        # address fails at start as it does with kafka-python.
        try:
            self._producer.list_topics(topic=topic, timeout=settings.connect_timeout_ms / 1000)
        except confluent_kafka.KafkaException as exc:
            self._producer.poll(0)  # serve error_cb and logs: they say why
            raise KafkaUnavailable(
                f"no Kafka broker reachable at {conn.bootstrap_servers}: {exc}"
            ) from exc
        self._produce = self._producer.produce

    def __repr__(self) -> str:
        return f"ConfluentProducer(topic={self.topic!r}, settings={self.settings!r})"

    def send(
        self, key: bytes, value: bytes, on_ack: Callable[..., None], token: Any = NO_TOKEN
    ) -> None:
        def delivered(err: Any, _msg: Any) -> None:
            error = None if err is None else self._ck.KafkaException(err)
            if token is NO_TOKEN:
                on_ack(error)
            else:
                on_ack(error, token)

        while True:
            try:
                self._produce(self.topic, value=value, key=key, on_delivery=delivered)
                return
            except BufferError:
                # librdkafka's local queue is full: serve callbacks to make room.
                self._producer.poll(0.1)
            except self._ck.KafkaException as exc:  # refused before queueing (too large)
                raise refusal(exc) from exc

    def poll(self, timeout: float = 0.0) -> None:
        self._producer.poll(timeout)

    def flush(self, timeout: float | None = None) -> bool:
        left = self._producer.flush(-1 if timeout is None else timeout)
        return left == 0

    def close(self, timeout: float = 5.0) -> None:
        if self._producer.flush(max(timeout, 0.0)) > 0:
            # Kafka did not answer in time: drop what is left (not checkpointed, so sent
            # again on the next start) so that destroying the client does not wait.
            self._producer.purge(in_queue=True, in_flight=True, blocking=False)
            self._producer.poll(0)


CONFLUENT_LOG = logging.getLogger("kafka.librdkafka")
CONFLUENT_LOG.addFilter(CLIENT_LOG_FILTER)


def _confluent_error(error: Any) -> None:
    CONFLUENT_LOG.warning("%s", error)

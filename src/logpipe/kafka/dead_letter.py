"""The dead-letter producer: where kafka2cassandra puts the records it cannot store."""

from __future__ import annotations

from collections.abc import Callable

from logpipe.config.connections import KafkaConnection
from logpipe.kafka.config import kafka_python_client
from logpipe.kafka.consumer import Header
from logpipe.kafka.errors import KafkaUnavailable

AckCallback = Callable[[BaseException | None], None]


class DeadLetterProducer:
    """Produces records that cannot be stored to the dead-letter topic.

    ``acks=all`` and idempotence: the poller commits a poison record's offset only once
    its dead letter is acknowledged, so it is never lost and never doubled by retries.
    """

    def __init__(self, conn: KafkaConnection, topic: str, connect_timeout_ms: int = 10_000) -> None:
        from kafka import KafkaProducer
        from kafka.errors import KafkaTimeoutError

        self.topic = topic
        self._producer = kafka_python_client(
            KafkaProducer,
            conn,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_block_ms=2_000,
            bootstrap_timeout_ms=connect_timeout_ms,
            reconnect_backoff_max_ms=2_000,
            client_id="kafka2cassandra-dlq",
        )
        self._timeout_error = KafkaTimeoutError

    def send(
        self,
        key: bytes | None,
        value: bytes | None,
        headers: list[Header],
        on_ack: AckCallback,
    ) -> None:
        """Queue one dead letter; ``on_ack(None)`` once Kafka has it, else the error."""
        try:
            future = self._producer.send(self.topic, value=value, key=key, headers=headers)
        except self._timeout_error as exc:
            on_ack(KafkaUnavailable(str(exc)))
            return
        future.add_callback(lambda _metadata: on_ack(None))
        future.add_errback(on_ack)

    def flush(self, timeout: float) -> bool:
        try:
            self._producer.flush(timeout=timeout)
        except self._timeout_error:
            return False
        return True

    def close(self, timeout: float = 5.0) -> None:
        try:
            self._producer.close(timeout=max(timeout, 0.0))
        except self._timeout_error:
            self._producer.close(timeout=0)

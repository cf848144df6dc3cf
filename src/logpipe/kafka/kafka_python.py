"""The default producer: kafka-python's KafkaProducer, and its key partitioning."""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from logpipe.config.connections import KafkaConnection
from logpipe.kafka.config import kafka_python_client
from logpipe.kafka.errors import KafkaUnavailable, refusal
from logpipe.kafka.producer import CLIENT_MAX_REQUEST_BYTES, NO_TOKEN, ProducerSettings


class _CachedKeyPartitioner:
    """kafka-python's default partitioning (murmur2 of the key, as the Java client),
    computed once per (key, partition count) instead of once per record: the key is
    the source host name, the same for every line, and the pure-Python hash is a large
    share of the per-record cost."""

    def __init__(self) -> None:
        from kafka.partitioner.default import DefaultPartitioner, murmur2

        self._fallback = DefaultPartitioner()
        self._murmur2 = murmur2
        self._cache: dict[tuple[str, bytes, int], int] = {}

    def partition(
        self,
        topic: str,
        key: Any,
        serialized_key: bytes | None,
        value: Any,
        serialized_value: bytes | None,
        cluster: Any,
    ) -> int:
        if serialized_key is None:
            return self._fallback.partition(
                topic, key, serialized_key, value, serialized_value, cluster
            )
        partitions = cluster.partitions_for_topic(topic)
        if not partitions:
            raise ValueError(f"topic {topic} not found in the cluster metadata")
        cache_key = (topic, serialized_key, len(partitions))
        found = self._cache.get(cache_key)
        if found is None:
            ordered = sorted(partitions)
            found = ordered[(self._murmur2(serialized_key) & 0x7FFFFFFF) % len(ordered)]
            if len(self._cache) > 1024:
                self._cache.clear()
            self._cache[cache_key] = found
        return found


def _kafka_python_partitioner() -> Any:
    from kafka.partitioner.abc import Partitioner

    class CachedKeyPartitioner(_CachedKeyPartitioner, Partitioner):
        pass

    return CachedKeyPartitioner()


class _Waker:
    """Wakes the client's IO thread at most once per turn of its loop.

    kafka-python wakes its IO thread (one byte down a socket pair) for every record that
    finds its partition's last batch full, and with a backlog every record does: that
    was the largest single cost of a line (a sixth of the CPU, with as many wake-ups of
    the IO thread). A wake-up asked for while an earlier one is still pending (the
    thread has not begun a new turn since) is dropped: the turn the pending one starts
    looks at the accumulator after the record was appended, and sends it.
    """

    def __init__(self, sender: Any) -> None:
        self._wakeup = sender.wakeup
        self._turn = sender.run_once
        self.pending = False
        sender.run_once = self._run_once

    def _run_once(self) -> None:
        # Cleared before the turn reads the accumulator: a record appended after this
        # point wakes the thread again.
        self.pending = False
        self._turn()

    def __call__(self) -> None:
        if not self.pending:
            self.pending = True
            self._wakeup()


class KafkaPythonProducer:
    """The default producer: kafka-python's KafkaProducer, one IO thread."""

    def __init__(
        self,
        conn: KafkaConnection,
        topic: str,
        settings: ProducerSettings,
        max_message_bytes: int = CLIENT_MAX_REQUEST_BYTES["kafka-python"],
    ) -> None:
        from kafka.errors import KafkaError, KafkaTimeoutError

        self.topic = topic
        self.settings = settings
        self.max_message_bytes = max_message_bytes
        self._conn = conn
        self._timeout_error = KafkaTimeoutError
        self._kafka_error = KafkaError
        self._routes: dict[bytes, Any] = {}
        self._routes_until = 0.0
        self._in_flight: deque[tuple[Any, Callable[..., None], Any]] = deque()
        #: Records at the head of ``_in_flight`` that belong to a client since reset.
        self._stale = 0
        self._reopen = False
        self._open()

    def _open(self) -> None:
        from kafka import KafkaProducer

        settings = self.settings
        partitioner = _kafka_python_partitioner()
        self._producer = kafka_python_client(
            KafkaProducer,
            self._conn,
            acks="all",
            enable_idempotence=True,
            retries=float("inf"),
            compression_type=None if settings.compression == "none" else settings.compression,
            linger_ms=settings.linger_ms,
            batch_size=settings.batch_size,
            max_request_size=CLIENT_MAX_REQUEST_BYTES["kafka-python"],
            max_in_flight_requests_per_connection=settings.max_in_flight,
            delivery_timeout_ms=settings.delivery_timeout_ms,
            request_timeout_ms=settings.request_timeout_ms,
            max_block_ms=settings.max_block_ms,
            bootstrap_timeout_ms=settings.connect_timeout_ms,
            reconnect_backoff_max_ms=settings.reconnect_backoff_max_ms,
            partitioner=partitioner,
            client_id="logs2kafka",
        )
        self._send = self._producer.send
        self._partitioner = partitioner
        # The fast path below appends straight to the client's record accumulator.
        # kafka-python's send() re-validates, re-serializes, re-partitions and formats a
        # debug message for every record; for one known topic and a key that is the same
        # on every line, that is half the cost of a line. Pinned client version: see
        # pyproject.toml.
        self._append = self._producer._accumulator.append
        self._wakeup = _Waker(self._producer._sender)
        self._max_fast_bytes = self._producer.config["max_request_size"] // 2
        self._routes.clear()
        self._routes_until = 0.0

    def __repr__(self) -> str:
        return f"KafkaPythonProducer(topic={self.topic!r}, settings={self.settings!r})"

    def send(
        self, key: bytes, value: bytes, on_ack: Callable[..., None], token: Any = NO_TOKEN
    ) -> None:
        if self._reopen:  # a reset could not open the new client: try again (or raise)
            self._open()
            self._reopen = False
        tp = self._routes.get(key)
        if tp is None or time.monotonic() >= self._routes_until:
            tp = self._route(key)
        if len(value) > self._max_fast_bytes:
            # Let the client check the size (and raise MessageSizeTooLargeError).
            try:
                future = self._send(self.topic, value=value, key=key, partition=tp.partition)
            except self._kafka_error as exc:
                raise refusal(exc) from exc
        else:
            future, full, new_batch, _ = self._append(tp, None, key, value, [])
            if full or new_batch:
                self._wakeup()
        self._in_flight.append((future, on_ack, token))

    def _route(self, key: bytes) -> Any:
        """The topic-partition of ``key`` (murmur2, as the Java client); refreshed every
        few seconds so a partition count change is followed."""
        from kafka.structs import TopicPartition

        try:
            self._producer.partitions_for(self.topic)  # waits for metadata (max_block_ms)
        except self._timeout_error as exc:
            raise KafkaUnavailable(str(exc)) from exc
        cluster = self._producer._metadata
        partition = self._partitioner.partition(self.topic, key, key, None, None, cluster)
        tp = TopicPartition(self.topic, partition)
        if time.monotonic() >= self._routes_until:
            self._routes.clear()
            self._routes_until = time.monotonic() + 10.0
        self._routes[key] = tp
        return tp

    def poll(self, timeout: float = 0.0) -> None:
        """Deliver the answers that came back, in the order the records were sent.

        Futures are checked here, on the caller's thread, instead of each getting a
        callback run on the IO thread: no lock, no closure and no cross-thread call per
        record. Records of one key go to one partition and complete in order, so the walk
        stops at the first unfinished record without delaying anything.
        """
        in_flight = self._in_flight
        while in_flight:
            future, on_ack, token = in_flight[0]
            if not future.is_done:
                return
            in_flight.popleft()
            error = future.exception
            if error is not None:
                error = self._after_failure(error)
            if token is NO_TOKEN:
                on_ack(error)
            else:
                on_ack(error, token)

    def _after_failure(self, error: BaseException) -> BaseException:
        """What a failed record is reported as, after recovering the client if needed.

        kafka-python's idempotent producer (unlike the Java client, which bumps its epoch)
        turns any error that is not retriable, such as one record too large for the
        topic, into a fatal state of the whole client: every later record then fails
        with that same error. The first such failure, in send order, is the record the
        broker refused; it is reported as is. The client is then replaced, and the later
        records of the old one are reported as retriable, so they are sent again instead
        of being taken for refused.
        """
        if self._stale:
            self._stale -= 1
            return KafkaUnavailable(f"sent again after the client was reset: {error}")
        if self._producer._transaction_manager.has_fatal_error():
            self._reset()
        return error

    def _reset(self) -> None:
        sender = self._producer._sender
        sender.force_close()  # fails what the old client still holds: sent again
        sender.join(5.0)
        self._producer._closed = True
        self._stale = len(self._in_flight)
        self._reopen = True
        with contextlib.suppress(KafkaUnavailable):  # else the next send opens it
            self._open()
            self._reopen = False

    def flush(self, timeout: float | None = None) -> bool:
        # kafka-python's flush(timeout) waits up to ``timeout`` for *each* batch; wait in
        # short steps instead so the whole flush keeps to ``timeout``.
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                step = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
                try:
                    self._producer.flush(timeout=max(step, 0.0))
                    return True
                except self._timeout_error:
                    if deadline is not None and time.monotonic() >= deadline:
                        return False
        finally:
            self.poll()

    def close(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + max(timeout, 0.0)
        if self.flush(timeout / 2):
            self._producer.close(timeout=max(0.1, deadline - time.monotonic()))
            return
        # Kafka did not answer in time: drop the client's copies of the unacknowledged
        # records (the caller's checkpoint is not past them, so the next start sends
        # them again) and stop its IO thread without waiting on it.
        sender = self._producer._sender
        sender.force_close()
        sender.join(max(0.0, deadline - time.monotonic()))
        self._producer._closed = True

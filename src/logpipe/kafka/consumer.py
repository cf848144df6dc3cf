"""The consumer side (kafka2cassandra): records, partitions and the group consumer.

No client library type leaks out: partitions are ``(topic, partition)`` tuples and
records are ``ConsumedRecord``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from logpipe.config.connections import KafkaConnection
from logpipe.config.settings import CONSUMER_KAFKA_CLIENT, GROUP_ID, GROUP_INSTANCE_ID
from logpipe.kafka.client_logs import closing, topic_missing
from logpipe.kafka.config import kafka_python_client
from logpipe.kafka.errors import KafkaUnavailable

#: Seconds between two looks for a topic that does not exist yet.
TOPIC_LOOK_INTERVAL = 1.0

#: (topic, partition): the consumer side's name for a partition, free of client types.
Partition = tuple[str, int]
Header = tuple[str, bytes]


class ConsumedRecord(NamedTuple):
    """One Kafka record as the poller sees it (no client library type leaks out).

    A named tuple rather than a frozen dataclass: one is made per record on the poll
    thread, and a tuple is built in C at a third of the cost of a frozen dataclass
    (which sets each field through ``object.__setattr__``).
    """

    topic: str
    partition: int
    offset: int
    #: Record timestamp in milliseconds since the epoch (-1 when the broker has none).
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...] = ()

    @property
    def tp(self) -> Partition:
        return (self.topic, self.partition)


@dataclass(frozen=True)
class ConsumerSettings:
    """Group membership and fetching.

    ``cooperative-sticky`` assignment (KIP-429, in kafka-python since 3.0): a rebalance
    moves only the partitions that change owner, the others keep being consumed.
    ``group_instance_id`` makes the member static (KIP-345): a pod restarting within
    ``session_timeout_ms`` gets its partitions back without a rebalance.
    """

    group_id: str = GROUP_ID.default
    group_instance_id: str | None = GROUP_INSTANCE_ID.default
    max_poll_records: int = 2000
    #: How long the broker may hold a fetch for data to arrive (the client's default is
    #: 500 ms). The client has one fetch in flight per broker and leaves out of it the
    #: partitions whose records it still holds: while it hands out the records of a busy
    #: partition, its next fetch asks only for the idle ones, the broker holds that fetch
    #: the whole wait, and the busy partition is fetched again only after it. With 500 ms,
    #: a topic whose records sit in one of its partitions drained at a third of the rate
    #: of the same records spread out; 50 ms costs an idle consumer 20 small requests a
    #: second per broker.
    fetch_max_wait_ms: int = 50
    max_poll_interval_ms: int = 300_000
    session_timeout_ms: int = 45_000
    heartbeat_interval_ms: int = 3_000
    connect_timeout_ms: int = 10_000
    reconnect_backoff_max_ms: int = 2_000
    client_id: str = "kafka2cassandra"
    #: The client library: kafka-python (``LogConsumer``) or confluent (``ConfluentConsumer``).
    client: str = CONSUMER_KAFKA_CLIENT.default

    def __post_init__(self) -> None:
        if self.client not in (CONSUMER_KAFKA_CLIENT.choices or ()):
            raise ValueError(
                f"Kafka client must be one of {', '.join(CONSUMER_KAFKA_CLIENT.choices or ())}"
            )

    @classmethod
    def with_session_timeout(cls, seconds: float, **fields: object) -> ConsumerSettings:
        """Settings whose session lasts ``seconds``, heartbeats every third of it (at most
        3 s, as Kafka recommends: a member misses two before it is given up)."""
        session_ms = int(seconds * 1000)
        heartbeat_ms = max(100, min(3_000, session_ms // 3))
        return cls(session_timeout_ms=session_ms, heartbeat_interval_ms=heartbeat_ms, **fields)


class RebalanceHandler(Protocol):
    """What the poller does when partitions come and go (called on the client's IO
    thread: it must return within seconds, and may call ``LogConsumer.commit_async``)."""

    def on_revoked(self, partitions: list[Partition]) -> None: ...

    def on_assigned(self, partitions: list[Partition]) -> None: ...

    def on_lost(self, partitions: list[Partition]) -> None: ...


CommitCallback = Callable[[dict[Partition, int], BaseException | None], None]


class Consumer(Protocol):
    """What kafka2cassandra needs of a group consumer, whichever library is behind it
    (``LogConsumer``, ``logpipe.kafka.confluent_consumer.ConfluentConsumer``)."""

    topic: str

    def poll(self, timeout: float, max_records: int | None = None) -> list[ConsumedRecord]:
        """Records ready within ``timeout`` seconds; KafkaUnavailable while Kafka is away."""
        ...

    def assignment(self) -> set[Partition]: ...

    def pause(self, partitions: list[Partition]) -> None: ...

    def resume(self, partitions: list[Partition]) -> None: ...

    def paused(self) -> set[Partition]: ...

    def commit(self, offsets: dict[Partition, int], timeout: float = 10.0) -> None:
        """Commit and wait (a rebalance in progress is ridden out within ``timeout``)."""
        ...

    def commit_async(self, offsets: dict[Partition, int], on_done: CommitCallback) -> None:
        """Commit without waiting; ``on_done(offsets, error)`` runs in a later poll."""
        ...

    def highwater(self, partition: Partition) -> int | None: ...

    def connected(self) -> bool:
        """A broker connection up and the group coordinator known (for /readyz)."""
        ...

    def close(self, timeout: float = 10.0) -> None: ...


def open_consumer(
    conn: KafkaConnection,
    topic: str,
    settings: ConsumerSettings,
    handler: RebalanceHandler | None = None,
) -> Consumer:
    """The group consumer of ``topic`` with the client ``settings.client`` names.

    Raises KafkaUnavailable if no broker answers (worth retrying).
    """
    if settings.client == "confluent":
        from logpipe.kafka.confluent_consumer import ConfluentConsumer

        return ConfluentConsumer(conn, topic, settings, handler)
    return LogConsumer(conn, topic, settings, handler)


class LogConsumer:
    """kafka-python's KafkaConsumer in a group, with manual commits only.

    ``auto_offset_reset=earliest`` (a new group reads the topic from its start) and
    ``enable_auto_commit=False``: the poller commits an offset only once the rows of
    every record before it are in Cassandra (or in the dead-letter topic).
    """

    def __init__(
        self,
        conn: KafkaConnection,
        topic: str,
        settings: ConsumerSettings,
        handler: RebalanceHandler | None = None,
    ) -> None:
        from kafka import KafkaConsumer
        from kafka.consumer.subscription_state import ConsumerRebalanceListener
        from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
        from kafka.errors import IllegalStateError, KafkaError, RebalanceInProgressError
        from kafka.structs import OffsetAndMetadata, TopicPartition

        self.topic = topic
        self.settings = settings
        self._tp = TopicPartition
        self._offset = OffsetAndMetadata
        self._kafka_error = KafkaError
        self._rebalancing = RebalanceInProgressError
        self._illegal_state = IllegalStateError
        self._consumer = kafka_python_client(
            KafkaConsumer,
            conn,
            group_id=settings.group_id,
            group_instance_id=settings.group_instance_id,
            client_id=settings.client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            partition_assignment_strategy=[CooperativeStickyAssignor],
            max_poll_records=settings.max_poll_records,
            fetch_max_wait_ms=settings.fetch_max_wait_ms,
            max_poll_interval_ms=settings.max_poll_interval_ms,
            session_timeout_ms=settings.session_timeout_ms,
            heartbeat_interval_ms=settings.heartbeat_interval_ms,
            bootstrap_timeout_ms=settings.connect_timeout_ms,
            reconnect_backoff_max_ms=settings.reconnect_backoff_max_ms,
        )

        class _Listener(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked: Any) -> None:
                if handler is not None:
                    handler.on_revoked(_plain(revoked))

            def on_partitions_assigned(self, assigned: Any) -> None:
                if handler is not None:
                    handler.on_assigned(_plain(assigned))

            def on_partitions_lost(self, lost: Any) -> None:
                if handler is not None:
                    handler.on_lost(_plain(lost))

        self._listener = _Listener()
        self._subscribed = False
        self._next_look = 0.0
        self._subscribe_if_there()

    def _subscribe_if_there(self) -> None:
        """Join the group once the topic exists (and its partitions are known).

        A member that joins before its topic exists is assigned nothing, and must join
        again when the topic appears. With kafka-python 3.0.12 that second join, when it
        overlaps a poll's timeout, can leave the member in the group with no partitions
        and nothing that asks for another join: measured, 1 poller in 6 started 1-2 s
        before its topic was created never consumed it. Waiting for the topic avoids the
        second join; the wait is said once.
        """
        if self._consumer.partitions_for_topic(self.topic):
            self._consumer.subscribe([self.topic], listener=self._listener)
            self._subscribed = True
        else:
            topic_missing(self.topic)
        self._next_look = time.monotonic() + TOPIC_LOOK_INTERVAL

    def poll(self, timeout: float, max_records: int | None = None) -> list[ConsumedRecord]:
        """Records ready now or within ``timeout`` seconds (none from paused partitions).

        Raises KafkaUnavailable when the client gives up on a broker or the coordinator
        for now (the caller waits and polls again; the client reconnects by itself).
        """
        if not self._subscribed:
            if time.monotonic() >= self._next_look:
                try:
                    self._subscribe_if_there()
                except self._kafka_error as exc:
                    raise KafkaUnavailable(f"{type(exc).__name__}: {exc}") from exc
            if not self._subscribed:
                time.sleep(timeout)
                return []
        try:
            batches = self._consumer.poll(timeout_ms=int(timeout * 1000), max_records=max_records)
        except self._kafka_error as exc:
            raise KafkaUnavailable(f"{type(exc).__name__}: {exc}") from exc
        out: list[ConsumedRecord] = []
        for records in batches.values():
            out.extend(
                ConsumedRecord(
                    r.topic,
                    r.partition,
                    r.offset,
                    r.timestamp if r.timestamp is not None else -1,
                    r.key,
                    r.value,
                    tuple(r.headers) if r.headers else (),
                )
                for r in records
            )
        return out

    def assignment(self) -> set[Partition]:
        return set(_plain(self._consumer.assignment() or ()))

    def pause(self, partitions: list[Partition]) -> None:
        if partitions:
            self._consumer.pause(*(self._tp(t, p) for t, p in partitions))

    def resume(self, partitions: list[Partition]) -> None:
        if partitions:
            self._consumer.resume(*(self._tp(t, p) for t, p in partitions))

    def paused(self) -> set[Partition]:
        return set(_plain(self._consumer.paused()))

    def _offsets(self, offsets: dict[Partition, int]) -> dict[Any, Any]:
        return {self._tp(t, p): self._offset(o, "", -1) for (t, p), o in offsets.items()}

    def commit(self, offsets: dict[Partition, int], timeout: float = 10.0) -> None:
        """Commit ``offsets`` (the next offset to read, per partition) and wait.

        A group in the middle of a rebalance refuses commits: poll (records returned
        meanwhile are dropped, they are read again by whoever owns them next) until the
        rebalance is through, then commit, all within ``timeout``.
        """
        from kafka.errors import RebalanceInProgressError

        if not offsets:
            return
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                self._consumer.commit(
                    self._offsets(offsets), timeout_ms=int(max(remaining, 0.1) * 1000)
                )
                return
            except RebalanceInProgressError:
                if time.monotonic() >= deadline:
                    raise
                self._unstick()
                self._consumer.poll(timeout_ms=100)

    def _unstick(self) -> None:
        """Work around a race in kafka-python 3.0.12: two join attempts in flight at once
        can leave the member "rebalancing" with nothing left to finish it, and every
        commit then fails with RebalanceInProgressError. Asking for a rejoin (the next
        poll does it; cooperative, so the assignment stays) makes the group stable.
        The coordinator's methods are checked at start-up (``logpipe.kafka.surface``)."""
        coordinator = self._consumer._coordinator
        if coordinator.rebalance_in_progress() and not coordinator.need_rejoin():
            coordinator.request_rejoin()

    def commit_async(self, offsets: dict[Partition, int], on_done: CommitCallback) -> None:
        """Commit without waiting; ``on_done(offsets, error)`` runs in a later poll."""
        if not offsets:
            return

        def done(_sent: Any, response: Any) -> None:
            if isinstance(response, self._rebalancing):
                self._unstick()
            on_done(offsets, response if isinstance(response, BaseException) else None)

        self._consumer.commit_async(self._offsets(offsets), callback=done)

    def highwater(self, partition: Partition) -> int | None:
        """The offset after the newest record, as of the last fetch (None if unknown)."""
        try:
            return self._consumer.highwater(self._tp(*partition))
        except self._illegal_state:  # not (or no longer) assigned to this member
            return None

    def connected(self) -> bool:
        """True when a connection to a broker is up and the group coordinator is known.

        Reads the client's private state (checked at start-up by ``logpipe.kafka.surface``);
        anything it raises reaches the health server, which logs it and fails /readyz.
        """
        client = self._consumer._client
        up = any(client.connected(b.node_id) for b in client.cluster.brokers())
        return up and not self._consumer._coordinator.coordinator_unknown()

    def close(self, timeout: float = 10.0) -> None:
        """Leave the group (a static member stays until its session times out)."""
        with closing():
            self._consumer.close(autocommit=False, timeout_ms=int(max(timeout, 0.1) * 1000))


def _plain(partitions: Any) -> list[Partition]:
    return [(tp.topic, tp.partition) for tp in partitions]

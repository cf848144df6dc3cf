"""The only module that imports a Kafka client.

Everything else in logpipe speaks LogEntry and bytes; this module turns a
``KafkaConnection`` into client settings and hides which client library is used.

Producer side: ``build_client_config`` (security settings shared by every client),
``ProducerSettings`` + ``open_producer`` (kafka-python by default, confluent-kafka
with ``--kafka-client confluent``), ``create_topic``.

The producer is built for at-least-once delivery without reordering: ``acks=all``,
idempotence, unlimited retries within a long delivery timeout, at most 5 requests in
flight. A record the client finally gives up on is reported to ``on_ack`` with the
error, so the caller can send it again instead of losing it.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from logpipe.config.connections import KafkaConnection

# kafka-python's admin client logs its whole configuration (with the SASL password) at
# DEBUG. Keep that logger above DEBUG whatever the root level, so no secret is printed.
logging.getLogger("kafka.admin.client").setLevel(logging.INFO)


class _OncePerMessage(logging.Filter):
    """Passes each distinct client log message (by template) once per ``interval``.

    While a broker is down, kafka-python logs every reconnection attempt (several a
    second). The outage itself is reported once by the caller ("kafka unreachable");
    the client's own first words on it stay visible, the repetitions do not.
    """

    def __init__(self, interval: float = 300.0) -> None:
        super().__init__()
        self.interval = interval
        self._last: dict[tuple[str, str], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        _REFUSALS.notice(message)
        # Numbers (ports, counts, durations) vary between repetitions of one message.
        key = (record.name, _DIGITS.sub("#", message))
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            return False
        if len(self._last) > 10_000:
            self._last.clear()
        self._last[key] = now
        return True


class KafkaAccessDenied(Exception):
    """Kafka answered but refused this client: wrong SASL credentials, or a broker
    certificate that the configured CA does not trust. Retrying cannot help; the
    configuration must be fixed, so this ends the command instead of waiting."""


class _Refusals:
    """Remembers the last refusal the client libraries reported in their logs.

    Neither client says *why* it could not connect in what it raises (a bootstrap
    timeout, a transport failure); only their log lines carry the authentication or
    certificate error. Every client log record passes ``_OncePerMessage``, which
    hands its text here.
    """

    _SIGNS = (
        "authentication failed",
        "authenticationfailed",
        "sasl authentication error",
        "code=_authentication",
        "certificate verify failed",
        "certificate_verify_failed",
    )

    def __init__(self) -> None:
        self.reason: str | None = None
        self.at = 0.0

    def notice(self, message: str) -> None:
        lowered = message.lower()
        if any(sign in lowered for sign in self._SIGNS):
            self.reason = message
            self.at = time.monotonic()

    def since(self, started: float) -> str | None:
        return self.reason if self.reason is not None and self.at >= started else None


_REFUSALS = _Refusals()
_CLIENT_LOG_FILTER = _OncePerMessage()
_DIGITS = re.compile(r"\d+")


def _quiet_client_logs() -> None:
    """Attach the filter to every logger of the client (after its modules are imported:
    a filter on the ``kafka`` parent would not see its children's records)."""
    for name in list(logging.root.manager.loggerDict):
        if name == "kafka" or name.startswith("kafka."):
            logger = logging.getLogger(name)
            if _CLIENT_LOG_FILTER not in logger.filters:
                logger.addFilter(_CLIENT_LOG_FILTER)


#: Compression codecs offered on the command line (``none`` = uncompressed).
COMPRESSIONS = ("lz4", "zstd", "gzip", "snappy", "none")
#: Client libraries behind ``Producer``.
CLIENTS = ("kafka-python", "confluent")

_SECRET_KEYS = frozenset({"sasl_plain_password", "sasl.password", "ssl_password"})
_HIDDEN = "***"

AckCallback = Callable[[BaseException | None], None]


class _NoToken:
    def __repr__(self) -> str:
        return "NO_TOKEN"


#: ``send(..., token=NO_TOKEN)``: call ``on_ack(error)`` without a token.
NO_TOKEN: Any = _NoToken()


class KafkaUnavailable(Exception):
    """Kafka could not be reached (or did not answer) within the allowed time."""


# ======================================================================================
# Shared client configuration (producer, consumer, admin)
# ======================================================================================


def build_client_config(conn: KafkaConnection) -> dict[str, Any]:
    """kafka-python keyword arguments for where Kafka is and how to authenticate.

    Shared by KafkaProducer, KafkaConsumer and KafkaAdminClient. TLS is on when a CA
    or client certificate is given (or the protocol says SSL); SASL when a mechanism
    is given. The result holds the password: log it only through ``redact``.
    """
    protocol = conn.protocol()
    config: dict[str, Any] = {
        "bootstrap_servers": _split_servers(conn.bootstrap_servers),
        "security_protocol": protocol,
    }
    if protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        if not conn.sasl_mechanism:
            raise ValueError(f"security protocol {protocol} needs a SASL mechanism")
        if not conn.sasl_username or conn.sasl_password is None:
            raise ValueError(f"SASL {conn.sasl_mechanism} needs a user name and a password")
        config["sasl_mechanism"] = conn.sasl_mechanism.upper()
        config["sasl_plain_username"] = conn.sasl_username
        config["sasl_plain_password"] = conn.sasl_password
    if protocol in ("SSL", "SASL_SSL"):
        if conn.ca_file:
            config["ssl_cafile"] = conn.ca_file
        if conn.cert_file:
            config["ssl_certfile"] = conn.cert_file
        if conn.key_file:
            config["ssl_keyfile"] = conn.key_file
    return config


def build_confluent_config(conn: KafkaConnection) -> dict[str, Any]:
    """The same connection in librdkafka's (confluent-kafka's) configuration names."""
    base = build_client_config(conn)
    config: dict[str, Any] = {
        "bootstrap.servers": ",".join(base["bootstrap_servers"]),
        "security.protocol": base["security_protocol"].lower(),
    }
    names = {
        "sasl_mechanism": "sasl.mechanism",
        "sasl_plain_username": "sasl.username",
        "sasl_plain_password": "sasl.password",
        "ssl_cafile": "ssl.ca.location",
        "ssl_certfile": "ssl.certificate.location",
        "ssl_keyfile": "ssl.key.location",
    }
    for ours, theirs in names.items():
        if ours in base:
            config[theirs] = base[ours]
    return config


def _kafka_python_client(factory: Callable[..., Any], conn: KafkaConnection, **options: Any) -> Any:
    """One kafka-python client (producer, consumer or admin) for ``conn``.

    Every client gets the shared security configuration and the log filter that
    notices refusals, and a broker that cannot be reached is KafkaUnavailable.
    """
    from kafka.errors import KafkaError

    _quiet_client_logs()
    try:
        return factory(**{**build_client_config(conn), **options})
    except KafkaError as exc:
        raise KafkaUnavailable(
            f"no Kafka broker reachable at {conn.bootstrap_servers}: {exc}"
        ) from exc


def redact(config: dict[str, Any]) -> dict[str, Any]:
    """A copy of a client configuration that is safe to log (passwords hidden)."""
    return {k: (_HIDDEN if k in _SECRET_KEYS and v is not None else v) for k, v in config.items()}


def _split_servers(servers: str) -> list[str]:
    found = [s.strip() for s in servers.split(",") if s.strip()]
    if not found:
        raise ValueError("no Kafka bootstrap server given")
    return found


# ======================================================================================
# Producer side (logs2kafka)
# ======================================================================================


@dataclass(frozen=True)
class ProducerSettings:
    """How records are batched, compressed and retried; the defaults favour throughput
    with ``acks=all`` and idempotence (no loss, no duplicates from retries)."""

    compression: str = "lz4"
    linger_ms: int = 20
    batch_size: int = 256 * 1024
    max_in_flight: int = 5
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
    client: str = "kafka-python"

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
        while Kafka is down): the caller keeps the record and tries later."""
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

    Raises KafkaUnavailable if no broker answers (worth retrying), KafkaAccessDenied if
    one answered and refused the credentials or the certificate (not worth it).
    """
    settings = settings or ProducerSettings()
    with access_checked(conn):
        if settings.client == "confluent":
            return ConfluentProducer(conn, topic, settings)
        return KafkaPythonProducer(conn, topic, settings)


@contextlib.contextmanager
def access_checked(conn: KafkaConnection) -> Iterator[None]:
    """Turn a KafkaUnavailable raised inside into KafkaAccessDenied when, meanwhile, the
    client's logs showed a broker refusing the credentials or the certificate."""
    started = time.monotonic()
    try:
        yield
    except KafkaUnavailable as exc:
        refused = _REFUSALS.since(started)
        if refused is not None:
            raise KafkaAccessDenied(
                f"Kafka at {conn.bootstrap_servers} refused the connection: {refused}"
            ) from exc
        raise


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


class KafkaPythonProducer:
    """The default producer: kafka-python's KafkaProducer, one IO thread."""

    def __init__(self, conn: KafkaConnection, topic: str, settings: ProducerSettings) -> None:
        from kafka import KafkaProducer
        from kafka.errors import KafkaTimeoutError

        self.topic = topic
        self.settings = settings
        partitioner = _kafka_python_partitioner()
        self._producer = _kafka_python_client(
            KafkaProducer,
            conn,
            acks="all",
            enable_idempotence=True,
            retries=float("inf"),
            compression_type=None if settings.compression == "none" else settings.compression,
            linger_ms=settings.linger_ms,
            batch_size=settings.batch_size,
            max_in_flight_requests_per_connection=settings.max_in_flight,
            delivery_timeout_ms=settings.delivery_timeout_ms,
            request_timeout_ms=settings.request_timeout_ms,
            max_block_ms=settings.max_block_ms,
            bootstrap_timeout_ms=settings.connect_timeout_ms,
            reconnect_backoff_max_ms=settings.reconnect_backoff_max_ms,
            partitioner=partitioner,
            client_id="logs2kafka",
        )
        self._timeout_error = KafkaTimeoutError
        self._send = self._producer.send
        self._partitioner = partitioner
        # The fast path below appends straight to the client's record accumulator.
        # kafka-python's send() re-validates, re-serializes, re-partitions and formats a
        # debug message for every record; for one known topic and a key that is the same
        # on every line, that is half the cost of a line. Pinned client version: see
        # pyproject.toml.
        self._append = self._producer._accumulator.append
        self._wakeup = self._producer._sender.wakeup
        self._max_fast_bytes = self._producer.config["max_request_size"] // 2
        self._routes: dict[bytes, Any] = {}
        self._routes_until = 0.0
        self._in_flight: deque[tuple[Any, Callable[..., None], Any]] = deque()

    def __repr__(self) -> str:
        return f"KafkaPythonProducer(topic={self.topic!r}, settings={self.settings!r})"

    def send(
        self, key: bytes, value: bytes, on_ack: Callable[..., None], token: Any = NO_TOKEN
    ) -> None:
        tp = self._routes.get(key)
        if tp is None or time.monotonic() >= self._routes_until:
            tp = self._route(key)
        if len(value) > self._max_fast_bytes:
            # Let the client check the size (and raise MessageSizeTooLargeError).
            future = self._send(self.topic, value=value, key=key, partition=tp.partition)
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
            if token is NO_TOKEN:
                on_ack(future.exception)
            else:
                on_ack(future.exception, token)

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


class ConfluentProducer:
    """The fast producer: confluent-kafka (librdkafka), installed with ``logpipe[fast]``.

    Delivery callbacks run inside ``poll``/``flush`` on the calling thread. Partitioning
    uses murmur2 like the Java client and kafka-python, so switching clients keeps one
    host's lines on the same partition.
    """

    def __init__(self, conn: KafkaConnection, topic: str, settings: ProducerSettings) -> None:
        try:
            import confluent_kafka
        except ImportError as exc:
            raise RuntimeError(
                "--kafka-client confluent needs confluent-kafka: pip install 'logpipe[fast]'"
            ) from exc
        self._ck = confluent_kafka
        self.topic = topic
        self.settings = settings
        config = build_confluent_config(conn)
        config.update(
            {
                "acks": "all",
                "enable.idempotence": True,
                "compression.type": settings.compression,
                "linger.ms": settings.linger_ms,
                "batch.size": settings.batch_size,
                "max.in.flight.requests.per.connection": settings.max_in_flight,
                "message.timeout.ms": settings.delivery_timeout_ms,
                "request.timeout.ms": settings.request_timeout_ms,
                "reconnect.backoff.max.ms": settings.reconnect_backoff_max_ms,
                "partitioner": "murmur2_random",
                "queue.buffering.max.messages": 1_000_000,
                "client.id": "logs2kafka",
                # librdkafka's own log lines and errors go through Python logging, where
                # repetitions during an outage are dropped (see _OncePerMessage).
                "logger": _CONFLUENT_LOG,
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


_CONFLUENT_LOG = logging.getLogger("kafka.librdkafka")
_CONFLUENT_LOG.addFilter(_CLIENT_LOG_FILTER)


def _confluent_error(error: Any) -> None:
    _CONFLUENT_LOG.warning("%s", error)


def create_topic(
    conn: KafkaConnection,
    name: str,
    partitions: int = 1,
    replication_factor: int = 1,
    timeout: float = 30.0,
) -> bool:
    """Create ``name`` if it does not exist; True if created, False if it was there.

    Waits until the new topic has a leader for every partition, so a producer or a
    consumer started right after does not race its creation.
    """
    from kafka.admin import KafkaAdminClient
    from kafka.errors import TopicAlreadyExistsError

    deadline = time.monotonic() + timeout
    admin = _kafka_python_client(
        KafkaAdminClient, conn, client_id="logpipe-admin", bootstrap_timeout_ms=int(timeout * 1000)
    )
    try:
        try:
            admin.create_topics(
                {name: {"num_partitions": partitions, "replication_factor": replication_factor}},
                timeout_ms=int(timeout * 1000),
                wait_for_metadata=True,
            )
        except TopicAlreadyExistsError:
            return False
        while time.monotonic() < deadline and name not in admin.list_topics():
            time.sleep(0.1)
        return True
    finally:
        admin.close()


# ======================================================================================
# Consumer side (kafka2cassandra)
# ======================================================================================

#: (topic, partition): the consumer side's name for a partition, free of client types.
Partition = tuple[str, int]
Header = tuple[str, bytes]


@dataclass(frozen=True, slots=True)
class ConsumedRecord:
    """One Kafka record as the poller sees it (no client library type leaks out)."""

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

    group_id: str = "kafka2cassandra"
    group_instance_id: str | None = None
    max_poll_records: int = 2000
    max_poll_interval_ms: int = 300_000
    session_timeout_ms: int = 45_000
    heartbeat_interval_ms: int = 3_000
    connect_timeout_ms: int = 10_000
    reconnect_backoff_max_ms: int = 2_000
    client_id: str = "kafka2cassandra"


class RebalanceHandler(Protocol):
    """What the poller does when partitions come and go (called on the client's IO
    thread: it must return within seconds, and may call ``LogConsumer.commit_async``)."""

    def on_revoked(self, partitions: list[Partition]) -> None: ...

    def on_assigned(self, partitions: list[Partition]) -> None: ...

    def on_lost(self, partitions: list[Partition]) -> None: ...


CommitCallback = Callable[[dict[Partition, int], BaseException | None], None]


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
        from kafka.errors import KafkaError, RebalanceInProgressError
        from kafka.structs import OffsetAndMetadata, TopicPartition

        self.topic = topic
        self.settings = settings
        self._tp = TopicPartition
        self._offset = OffsetAndMetadata
        self._kafka_error = KafkaError
        self._rebalancing = RebalanceInProgressError
        self._consumer = _kafka_python_client(
            KafkaConsumer,
            conn,
            group_id=settings.group_id,
            group_instance_id=settings.group_instance_id,
            client_id=settings.client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            partition_assignment_strategy=[CooperativeStickyAssignor],
            max_poll_records=settings.max_poll_records,
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

        # Know the topic's partitions before joining: a group leader without them assigns
        # nothing and the group has to rebalance once more when the metadata arrives.
        self._consumer.partitions_for_topic(topic)
        self._consumer.subscribe([topic], listener=_Listener())

    def poll(self, timeout: float, max_records: int | None = None) -> list[ConsumedRecord]:
        """Records ready now or within ``timeout`` seconds (none from paused partitions).

        Raises KafkaUnavailable when the client gives up on a broker or the coordinator
        for now (the caller waits and polls again; the client reconnects by itself).
        """
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
                    tuple(r.headers or ()),
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
        poll does it; cooperative, so the assignment stays) makes the group stable."""
        coordinator = self._consumer._coordinator
        try:
            if coordinator.rebalance_in_progress() and not coordinator.need_rejoin():
                coordinator.request_rejoin()
        except AttributeError:  # another kafka-python: nothing to work around
            pass

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
        except Exception:
            return None

    def connected(self) -> bool:
        """True when a connection to a broker is up and the group coordinator is known."""
        try:
            client = self._consumer._client
            up = any(client.connected(b.node_id) for b in client.cluster.brokers())
            return up and not self._consumer._coordinator.coordinator_unknown()
        except Exception:
            return False

    def close(self, timeout: float = 10.0) -> None:
        """Leave the group (a static member stays until its session times out)."""
        self._consumer.close(autocommit=False, timeout_ms=int(max(timeout, 0.1) * 1000))


def _plain(partitions: Any) -> list[Partition]:
    return [(tp.topic, tp.partition) for tp in partitions]


class DeadLetterProducer:
    """Produces records that cannot be stored to the dead-letter topic.

    ``acks=all`` and idempotence: the poller commits a poison record's offset only once
    its dead letter is acknowledged, so it is never lost and never doubled by retries.
    """

    def __init__(self, conn: KafkaConnection, topic: str, connect_timeout_ms: int = 10_000) -> None:
        from kafka import KafkaProducer
        from kafka.errors import KafkaTimeoutError

        self.topic = topic
        self._producer = _kafka_python_client(
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

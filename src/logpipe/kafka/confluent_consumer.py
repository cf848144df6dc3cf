"""The fast consumer: confluent-kafka (librdkafka), installed with ``logpipe[fast]``.

The same interface and guarantees as ``LogConsumer`` (kafka-python), through
confluent-kafka's public API only. What differs underneath, and how it is met:

* The rebalance callbacks run inside ``consume`` (or ``close``), on the calling thread,
  not on a client thread: the handler may still call ``commit_async``.
* librdkafka has one global commit callback: ``commit_async`` keeps its calls in order
  and hands each result to the call that named the same offsets.
* A partition paused before it was taken away stays paused when it comes back (measured
  with 2.16): a newly assigned partition is resumed, as kafka-python's would be.
* Nothing is raised for a broker that is down: the client says so in ``error_cb``, and
  ``poll`` raises ``KafkaUnavailable`` while no broker is up, as kafka-python does.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections import deque
from typing import Any

import orjson

from logpipe.config.connections import KafkaConnection
from logpipe.kafka.client_logs import closing, topic_missing
from logpipe.kafka.config import build_confluent_config
from logpipe.kafka.confluent import CONFLUENT_LOG, import_confluent
from logpipe.kafka.consumer import (
    CommitCallback,
    ConsumedRecord,
    ConsumerSettings,
    Partition,
    RebalanceHandler,
)
from logpipe.kafka.errors import KafkaUnavailable

#: Milliseconds between two statistics of the client: ``connected`` reads the last one
#: (no request to a broker per /readyz), so it is at most this old.
STATS_INTERVAL_MS = 1_000
#: How much the client fetches ahead of ``poll``: two polls' worth of records (librdkafka's
#: default is 64 MB: memory, and work thrown away at every pause, since a pause drops what
#: was fetched for the partition). Measured alone, the consumer drains as fast with 2 MB.
PREFETCH_KBYTES = 4_096
#: How long the client waits before fetching again once that much is fetched ahead
#: (librdkafka's default, 1 s: 50,000 records drained in 1.4 s instead of 0.25 s).
FETCH_QUEUE_BACKOFF_MS = 10
#: Commits whose result has not come back; beyond this the oldest are forgotten (a
#: result that never comes must not grow the list for ever).
MAX_PENDING_COMMITS = 1_000
#: librdkafka's error codes read here (confluent_kafka.KafkaError's names).
_TOPIC_MISSING = ("UNKNOWN_TOPIC_OR_PART", "_UNKNOWN_TOPIC", "_UNKNOWN_PARTITION")
_log = logging.getLogger("logpipe.kafka")


class ConfluentConsumer:
    """librdkafka's consumer in a group, with manual commits only (see the module).

    ``auto.offset.reset=earliest`` (a new group reads the topic from its start),
    ``enable.auto.commit=false`` and ``enable.auto.offset.store=false``: only the offsets
    the poller names are committed, once the rows of every record before them are stored.
    ``cooperative-sticky`` assignment, as with kafka-python: a rebalance moves only the
    partitions that change owner.
    """

    def __init__(
        self,
        conn: KafkaConnection,
        topic: str,
        settings: ConsumerSettings,
        handler: RebalanceHandler | None = None,
    ) -> None:
        confluent_kafka = import_confluent()
        self._ck = confluent_kafka
        self._tp = confluent_kafka.TopicPartition
        self.topic = topic
        self.settings = settings
        self._handler = handler
        self._reset()
        config = build_confluent_config(conn)
        config.update(
            {
                "group.id": settings.group_id,
                "client.id": settings.client_id,
                "partition.assignment.strategy": "cooperative-sticky",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                # kafka-python's default: records are readable once the broker has them.
                "isolation.level": "read_uncommitted",
                "fetch.wait.max.ms": settings.fetch_max_wait_ms,
                "queued.max.messages.kbytes": PREFETCH_KBYTES,
                "fetch.queue.backoff.ms": FETCH_QUEUE_BACKOFF_MS,
                "max.poll.interval.ms": settings.max_poll_interval_ms,
                "session.timeout.ms": settings.session_timeout_ms,
                "heartbeat.interval.ms": settings.heartbeat_interval_ms,
                "socket.connection.setup.timeout.ms": settings.connect_timeout_ms,
                "reconnect.backoff.max.ms": settings.reconnect_backoff_max_ms,
                "statistics.interval.ms": STATS_INTERVAL_MS,
                "stats_cb": self._on_stats,
                "on_commit": self._on_commit,
                "error_cb": self._on_error,
                # librdkafka's log lines through Python logging, repetitions dropped and
                # refusals noticed (client_logs), as for the producer.
                "logger": CONFLUENT_LOG,
            }
        )
        if settings.group_instance_id:
            config["group.instance.id"] = settings.group_instance_id
        self._consumer = confluent_kafka.Consumer(config)
        try:
            # librdkafka connects lazily: ask for the topic now, so that a wrong address or
            # refused credentials fail here as they do with kafka-python. A consumer never
            # creates topics (allow.auto.create.topics is off), even by asking.
            found = self._consumer.list_topics(
                topic=topic, timeout=settings.connect_timeout_ms / 1000
            )
        except confluent_kafka.KafkaException as exc:
            self._consumer.poll(0)  # serve error_cb and the logs: they say why
            self._close_within(1.0)
            raise KafkaUnavailable(
                f"no Kafka broker reachable at {conn.bootstrap_servers}: {exc}"
            ) from exc
        listed = found.topics.get(topic)
        if listed is None or listed.error is not None:
            # Subscribed anyway: the client notices the topic once it is created.
            topic_missing(topic)
        self._consumer.subscribe(
            [topic], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
        )

    def _reset(self) -> None:
        """The bookkeeping of a consumer that has nothing yet."""
        self._assigned: set[Partition] = set()
        self._paused: set[Partition] = set()
        #: (offsets, on_done) of the asynchronous commits sent, oldest first.
        self._commits: deque[tuple[dict[Partition, int], CommitCallback]] = deque()
        self._commits_lock = threading.Lock()
        #: Set by the client's statistics (every STATS_INTERVAL_MS).
        self._connected = False
        #: The client said every broker is down; cleared by statistics with one up.
        self._brokers_down = False

    def __repr__(self) -> str:
        return f"ConfluentConsumer(topic={self.topic!r}, settings={self.settings!r})"

    # -- polling -------------------------------------------------------------------------

    def poll(self, timeout: float, max_records: int | None = None) -> list[ConsumedRecord]:
        """Records ready now or within ``timeout`` seconds (none from paused partitions).

        Raises KafkaUnavailable while the client reports every broker down (the caller
        waits and polls again; the client reconnects by itself).
        """
        started = time.monotonic()
        limit = max_records or self.settings.max_poll_records
        messages = self._consumer.consume(limit, 0)
        if not messages:
            # Wait for the first record only, as kafka-python's poll does: consume(n, t)
            # waits for n records or all of t, and at a low rate that held every record
            # (and the acknowledgements served between polls) for the whole timeout.
            first = self._consumer.poll(timeout)
            if first is not None:
                messages = [first, *(self._consumer.consume(limit - 1, 0) if limit > 1 else ())]
        out: list[ConsumedRecord] = []
        errors = False
        for m in messages:
            if m.error() is not None:
                self._message_error(m)
                errors = True
                continue
            kind, stamp = m.timestamp()
            headers = m.headers()
            out.append(
                ConsumedRecord(
                    m.topic(),
                    m.partition(),
                    m.offset(),
                    stamp if kind else -1,
                    m.key(),
                    m.value(),
                    tuple(headers) if headers else (),
                )
            )
        if out:
            self._brokers_down = False
            return out
        if self._brokers_down:
            raise KafkaUnavailable("every Kafka broker is down (librdkafka: _ALL_BROKERS_DOWN)")
        if errors:
            # An error can come back at once, poll after poll: never a busy loop.
            time.sleep(max(0.0, timeout - (time.monotonic() - started)))
        return out

    def _message_error(self, message: Any) -> None:
        """An error in place of a record: said (the log filter drops repetitions), not
        raised; only an error the client calls fatal is (KafkaUnavailable)."""
        error = message.error()
        if error.name() in _TOPIC_MISSING:
            topic_missing(message.topic() or self.topic)
        elif error.fatal():
            raise KafkaUnavailable(f"the Kafka client failed for good: {error.str()}")
        else:
            CONFLUENT_LOG.warning("consumer: %s", error.str())

    # -- partitions ------------------------------------------------------------------------

    def assignment(self) -> set[Partition]:
        return set(self._assigned)

    def pause(self, partitions: list[Partition]) -> None:
        if partitions:
            self._consumer.pause([self._tp(t, p) for t, p in partitions])
            self._paused.update(partitions)

    def resume(self, partitions: list[Partition]) -> None:
        if partitions:
            self._consumer.resume([self._tp(t, p) for t, p in partitions])
            self._paused.difference_update(partitions)

    def paused(self) -> set[Partition]:
        return self._paused & self._assigned

    def highwater(self, partition: Partition) -> int | None:
        """The offset after the newest record, as of the last fetch (None if unknown)."""
        try:
            _low, high = self._consumer.get_watermark_offsets(self._tp(*partition), cached=True)
        except (self._ck.KafkaException, TypeError):  # unknown partition; None on timeout
            return None
        return high if high >= 0 else None

    def connected(self) -> bool:
        """True when, in the client's last statistics, a broker connection is up and the
        group coordinator is known (no request per call: /readyz asks often)."""
        return self._connected

    # -- commits ---------------------------------------------------------------------------

    def commit_async(self, offsets: dict[Partition, int], on_done: CommitCallback) -> None:
        """Commit without waiting; ``on_done(offsets, error)`` runs in a later poll."""
        if not offsets:
            return
        with self._commits_lock:
            self._commits.append((dict(offsets), on_done))
            while len(self._commits) > MAX_PENDING_COMMITS:
                self._commits.popleft()
        try:
            self._consumer.commit(offsets=self._offsets(offsets), asynchronous=True)
        except Exception:
            self._take_commit(offsets)
            raise

    def commit(self, offsets: dict[Partition, int], timeout: float = 10.0) -> None:
        """Commit ``offsets`` (the next offset to read, per partition) and wait.

        A group in the middle of a rebalance refuses commits: the rebalance is served
        (records returned meanwhile are not lost: the consumer seeks back to them) and the
        commit sent again, all within ``timeout``. Sent asynchronously and waited for, so
        that the wait is bounded (librdkafka's own synchronous commit waits for a missing
        coordinator up to the session timeout).
        """
        if not offsets:
            return
        deadline = time.monotonic() + timeout
        while True:
            result: list[BaseException | None] = []
            self.commit_async(offsets, functools.partial(_keep, result))
            while not result and time.monotonic() < deadline:
                self._serve(min(0.1, max(0.0, deadline - time.monotonic())))
            if not result:
                self._take_commit(offsets)
                raise KafkaUnavailable(f"offset commit not answered within {timeout:.1f} s")
            error = result[0]
            if error is None:
                return
            if not _rebalancing(error) or time.monotonic() >= deadline:
                raise error
            self._serve(0.1)

    def _serve(self, timeout: float) -> None:
        """Serve callbacks (rebalance, commits) without handing out records: any returned
        meanwhile are read again (seek back to the first of each partition)."""
        first: dict[Partition, int] = {}
        for m in self._consumer.consume(self.settings.max_poll_records, timeout):
            if m.error() is None:
                first.setdefault((m.topic(), m.partition()), m.offset())
        for (topic, partition), offset in first.items():
            if (topic, partition) in self._assigned:
                # (taken away meanwhile: its new owner reads it)
                with contextlib.suppress(self._ck.KafkaException):
                    self._consumer.seek(self._tp(topic, partition, offset))

    def _offsets(self, offsets: dict[Partition, int]) -> list[Any]:
        return [self._tp(t, p, o) for (t, p), o in offsets.items()]

    def _take_commit(self, offsets: dict[Partition, int]) -> CommitCallback | None:
        """Remove and return the callback of the oldest commit of exactly ``offsets``
        (None if there is none)."""
        with self._commits_lock:
            for i, (sent, on_done) in enumerate(self._commits):
                if sent == offsets:
                    del self._commits[i]
                    return on_done
        return None

    def _on_commit(self, error: Any, partitions: list[Any]) -> None:
        """librdkafka's one commit callback: the result goes to the commit of the same
        offsets (the oldest, when several named the same), else to the oldest."""
        offsets = {(tp.topic, tp.partition): tp.offset for tp in partitions or ()}
        on_done = self._take_commit(offsets)
        if on_done is None:
            with self._commits_lock:
                if not self._commits:
                    return
                offsets, on_done = self._commits.popleft()
        if error is None:
            failed = next((tp.error for tp in partitions or () if tp.error is not None), None)
            error = failed
        on_done(offsets, None if error is None else self._ck.KafkaException(error))

    # -- client callbacks (inside consume, commit and close) -----------------------------

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        plain = _plain(partitions)
        consumer.incremental_assign(partitions)
        if partitions:
            # Paused when it was last ours: the pause outlived the assignment.
            consumer.resume(partitions)
        self._assigned.update(plain)
        self._paused.difference_update(plain)
        self._tell("on_assigned", plain)

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        plain = _plain(partitions)
        self._tell("on_revoked", plain)
        self._let_go(consumer, partitions, plain)

    def _on_lost(self, consumer: Any, partitions: list[Any]) -> None:
        plain = _plain(partitions)
        self._tell("on_lost", plain)
        self._let_go(consumer, partitions, plain)

    def _tell(self, event: str, partitions: list[Partition]) -> None:
        """Call the handler; what it raises is logged, not raised out of ``consume`` (where
        librdkafka would re-raise it), as kafka-python does with its listener."""
        if self._handler is None:
            return
        try:
            getattr(self._handler, event)(partitions)
        except Exception:
            _log.exception("rebalance handler %s failed", event)

    def _let_go(self, consumer: Any, partitions: list[Any], plain: list[Partition]) -> None:
        self._assigned.difference_update(plain)
        self._paused.difference_update(plain)
        consumer.incremental_unassign(partitions)

    def _on_stats(self, stats: str) -> None:
        data = orjson.loads(stats)
        up = any(
            b.get("state") == "UP" and b.get("nodeid", -1) >= 0
            for b in data.get("brokers", {}).values()
        )
        if up:
            self._brokers_down = False
        self._connected = up and data.get("cgrp", {}).get("state") == "up"

    def _on_error(self, error: Any) -> None:
        if error.name() == "_ALL_BROKERS_DOWN":
            self._brokers_down = True
            self._connected = False
        CONFLUENT_LOG.warning("%s", error)

    # -- closing ---------------------------------------------------------------------------

    def close(self, timeout: float = 10.0) -> None:
        """Leave the group (a static member stays until its session times out).

        librdkafka's close has no timeout (it waits for commits in flight, up to the
        session timeout while the coordinator is away): it runs on a thread of its own,
        waited for at most ``timeout`` seconds.
        """
        with closing():
            self._close_within(timeout)

    def _close_within(self, timeout: float) -> None:
        done = threading.Thread(target=self._consumer.close, name="kafka-close", daemon=True)
        done.start()
        done.join(max(timeout, 0.1))


def _keep(into: list[BaseException | None], _offsets: object, error: BaseException | None) -> None:
    into.append(error)


def _rebalancing(error: BaseException) -> bool:
    args = getattr(error, "args", ())
    code = args[0].name() if args and hasattr(args[0], "name") else ""
    return code in ("REBALANCE_IN_PROGRESS", "_STATE")


def _plain(partitions: list[Any]) -> list[Partition]:
    return [(tp.topic, tp.partition) for tp in partitions]

"""kafka2cassandra: consume log envelopes, write them as rows, commit what is stored.

The loop on one thread: poll Kafka, hand the records to ``Delivery`` (rows written with
many requests in flight, bounded), poll again. Acknowledgements come back on the
driver's threads and mark offsets done in an ``OffsetTracker``; ``Commits`` commits a
partition's offset only up to the last record before which every record is stored or
dead-lettered. A slow or absent Cassandra never blocks the loop: the partitions are
paused (``poll`` keeps the group membership alive and returns nothing), failed writes
are retried with exponential backoff and jitter, and consumption resumes once writes
succeed again. A dead letter the dead-letter topic does not take pauses only the
partition it came from.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from logpipe.cassandra import Store, StoreSetupError
from logpipe.config.connections import CassandraConnection, KafkaConnection
from logpipe.kafka import (
    Consumer,
    DeadLetterProducer,
    KafkaAccessDenied,
    KafkaUnavailable,
    access_checked,
    create_topic,
    open_consumer,
)
from logpipe.kafka2cassandra.commits import Commits
from logpipe.kafka2cassandra.config import PollerConfig
from logpipe.kafka2cassandra.dead_letter import (
    DLQ_ERROR,
    DLQ_OFFSET,
    DLQ_PARTITION,
    DLQ_REASON,
    DLQ_TOPIC,
    MAX_REASON,
)
from logpipe.kafka2cassandra.delivery import Delivery
from logpipe.kafka2cassandra.metrics import PollerMetrics
from logpipe.kafka2cassandra.offsets import OffsetTracker
from logpipe.observability import HealthServer, StateLog, get_logger

__all__ = [
    "DLQ_ERROR",
    "DLQ_OFFSET",
    "DLQ_PARTITION",
    "DLQ_REASON",
    "DLQ_TOPIC",
    "Poller",
    "PollerConfig",
    "PollerMetrics",
]

log = get_logger("poller")

T = TypeVar("T")


class Poller:
    """Consume ``config.topic`` into ``config.keyspace``.logs until ``stop()``."""

    def __init__(
        self,
        config: PollerConfig,
        kafka: KafkaConnection,
        cassandra: CassandraConnection,
        metrics: PollerMetrics | None = None,
    ) -> None:
        self.config = config
        self.kafka_conn = kafka
        self.cassandra_conn = cassandra
        self.metrics = metrics or PollerMetrics()
        self.tracker = OffsetTracker()
        self._stop = threading.Event()
        self._stop_at: float | None = None
        self.commits = Commits(
            self.tracker, self.metrics, self._stop, config.commit_interval, config.revoke_wait
        )
        self._flow_state = StateLog(log, "running")
        self._kafka_state = StateLog(log, "ok")
        self._kafka_backoff = config.backoff()
        self._store: Store | None = None
        self._consumer: Consumer | None = None
        self._dlq: DeadLetterProducer | None = None
        self._delivery: Delivery | None = None
        self._last_loop = time.monotonic()
        self._health: HealthServer | None = None
        self.ready = threading.Event()

    # -- control -------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to finish in-flight work, commit and return (signal-safe)."""
        if self._stop_at is None:
            self._stop_at = time.monotonic()
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def is_ready(self) -> bool:
        """Kafka and Cassandra both reachable (``/readyz``)."""
        store, consumer, delivery = self._store, self._consumer, self._delivery
        return (
            store is not None
            and consumer is not None
            and store.is_up()
            and consumer.connected()
            and not (delivery is not None and delivery.cassandra_failing)
        )

    def is_alive(self) -> bool:
        """The loop turned recently (``/healthz``)."""
        return time.monotonic() - self._last_loop < 60.0

    @property
    def health_port(self) -> int | None:
        """The port serving /metrics, /healthz and /readyz (None: not serving)."""
        return None if self._health is None else self._health.port

    # -- setup ---------------------------------------------------------------------

    def _until_connected(self, what: str, connect: Callable[[], T]) -> T | None:
        """Call ``connect`` until it succeeds or the poller is stopped."""
        backoff = self.config.backoff()
        state = StateLog(log)
        while not self.stopping:
            try:
                made = connect()
            except (StoreSetupError, KafkaAccessDenied):
                raise  # wrong credentials or certificate: waiting cannot help
            except Exception as exc:
                state.set(
                    "down",
                    f"{what} unreachable; retrying",
                    logging.WARNING,
                    error=str(exc)[:MAX_REASON],
                )
                self._stop.wait(backoff.next())
                continue
            if state.state == "down":
                log.info(f"{what} reachable")
            return made
        return None

    def _connect_store(self) -> Store:
        return Store(
            self.cassandra_conn,
            consistency=self.config.consistency,
            request_timeout=self.config.request_timeout,
        )

    def _open_consumer(self) -> Consumer:
        try:
            with access_checked(self.kafka_conn):
                create_topic(
                    self.kafka_conn,
                    self.config.dlq_topic,
                    partitions=1,
                    replication_factor=self.config.dlq_replication_factor,
                    timeout=10.0,
                )
        except KafkaAccessDenied:
            raise
        except Exception as exc:  # the topic may exist, or the user may not create topics
            log.info("dead-letter topic not created", extra={"error": str(exc)[:MAX_REASON]})
        with access_checked(self.kafka_conn):
            self._dlq = DeadLetterProducer(self.kafka_conn, self.config.dlq_topic)
            return open_consumer(
                self.kafka_conn, self.config.topic, self.config.consumer, self.commits
            )

    def run(self) -> int:
        """Run until stopped; returns the process exit status."""
        cfg = self.config
        if cfg.metrics_port is not None:
            self._health = HealthServer(
                cfg.metrics_port,
                live=self.is_alive,
                ready=self.is_ready,
                registry=self.metrics.registry,
                host=cfg.metrics_host,
            ).start()
        try:
            self._store = self._until_connected("Cassandra", self._connect_store)
            if self._store is None:
                return 0
            writer = self._store.writer(
                cfg.keyspace,
                table=cfg.table,
                log_id_mode=cfg.log_id_mode,
                max_in_flight=cfg.max_in_flight,
            )
            if not writer.columns:
                log.warning(
                    "the table has no field columns: only the raw lines are stored; "
                    "`kafka2cassandra schema` adds them",
                    extra={"keyspace": cfg.keyspace},
                )
            self.metrics.cassandra_up.set(1)
            self._consumer = self._until_connected("Kafka", self._open_consumer)
            if self._consumer is None:
                return 0
            self.commits.attach(self._consumer)
            assert self._dlq is not None
            self._delivery = Delivery(
                cfg, writer, self._dlq, self.tracker, self.metrics, self._consumer.assignment
            )
            log.info(
                "consuming",
                extra={
                    "topic": cfg.topic,
                    "group_id": cfg.consumer.group_id,
                    "group_instance_id": cfg.consumer.group_instance_id,
                    "kafka_client": cfg.consumer.client,
                    "keyspace": cfg.keyspace,
                    "table": cfg.table,
                    "layout": writer.layout.name,
                    "bucket": writer.layout.bucket,
                    "log_id": cfg.log_id_mode,
                    "batch_rows": cfg.batch_rows,
                    "max_in_flight": cfg.max_in_flight,
                    "consistency": cfg.consistency,
                    "field_columns": len(writer.columns),
                },
            )
            if cfg.tune_gc:
                _tune_gc()
            self.ready.set()
            self._loop(self._consumer, self._delivery)
            return 0
        finally:
            self._shutdown()

    # -- the loop ------------------------------------------------------------------

    def _loop(self, consumer: Consumer, delivery: Delivery) -> None:
        max_records = self.config.consumer.max_poll_records
        self.commits.start(time.monotonic())
        while True:
            now = time.monotonic()
            self._last_loop = now
            delivery.turn(now)
            if self.stopping:
                drained = delivery.drained
                if drained or now >= self._drain_deadline():
                    if not drained:
                        log.warning(
                            "stopping with records not stored; they are not committed",
                            extra={"records": self.tracker.in_flight()},
                        )
                    return
            paused = self._flow_control(consumer, delivery)
            timeout = 0.05 if paused else 0.2
            try:
                records = consumer.poll(timeout, max_records=max_records)
            except KafkaUnavailable as exc:
                # The client reconnects by itself; commits wait, writes in flight go on.
                self._kafka_state.set(
                    "unreachable",
                    "Kafka unreachable; polling again",
                    logging.WARNING,
                    error=str(exc)[:MAX_REASON],
                )
                self._stop.wait(min(5.0, self._kafka_backoff.next()))
                continue
            if self._kafka_state.state != "ok":
                self._kafka_backoff.reset()
                self._kafka_state.set("ok", "Kafka reachable again")
            if records:
                delivery.ingest(records)
            self.commits.tick(time.monotonic())

    def _drain_deadline(self) -> float:
        # Leave a quarter of the allowed time (at most 5 s) for the final commit and close.
        assert self._stop_at is not None
        allowed = self.config.shutdown_timeout
        return self._stop_at + allowed - min(5.0, allowed / 4)

    def _flow_control(self, consumer: Consumer, delivery: Delivery) -> bool:
        """Pause every assigned partition while writes cannot keep up or are failing, and
        only the held ones (a dead letter of theirs failed) otherwise. True if all paused."""
        pause = self.stopping or delivery.backlogged
        assigned = consumer.assignment()
        wanted = assigned if pause else delivery.held & assigned
        paused = consumer.paused()
        consumer.pause(sorted(wanted - paused))
        consumer.resume(sorted((paused - wanted) & assigned))
        if pause:
            if not self.stopping:
                self._flow_state.set("paused", "consumption paused", logging.DEBUG)
        elif wanted:
            self._flow_state.set("held", "consumption of some partitions paused", logging.DEBUG)
        else:
            self._flow_state.set("running", "consumption resumed", logging.DEBUG)
        self.metrics.paused.set(1 if pause else 0)
        return pause

    # -- shutdown --------------------------------------------------------------------

    def _shutdown(self) -> None:
        started = self._stop_at or time.monotonic()
        deadline = started + self.config.shutdown_timeout

        def left(cap: float) -> float:
            return max(0.1, min(cap, deadline - time.monotonic() - 0.5))

        consumer, dlq, store = self._consumer, self._dlq, self._store
        if consumer is not None:
            self.commits.final(left(5.0))
            try:
                consumer.close(timeout=left(5.0))
            except Exception as exc:
                log.warning("consumer close failed", extra={"error": str(exc)[:300]})
        if dlq is not None:
            dlq.close(timeout=left(2.0))
        if store is not None:
            store.close()
        if self._health is not None:
            self._health.stop()
        log.info("stopped")


def _tune_gc() -> None:
    """Keep the cyclic garbage collector from rescanning the clients' long-lived objects.

    Every record makes a few dozen short-lived objects; with the default thresholds a
    full collection runs every few thousand records and walks every object of the Kafka
    client and the Cassandra driver each time (measured: a third of the throughput).
    Objects alive once connected are frozen (never scanned again) and collections run
    less often. This is safe for memory only because the per-record objects are freed by
    reference counting: nothing of a record is left in a reference cycle (the driver's
    response futures are released on completion, ``logpipe.cassandra.writer.release``),
    so what the raised thresholds let pile up is a few hundred objects, not batches of rows.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)

"""Offset commits and the rebalance listener: a commit names only what is stored.

Commits go out every ``commit_interval`` (asynchronously, only positions that moved),
on revocation (after a short wait for the revoked partitions' writes) and once more,
synchronously, at shutdown. The rebalance callbacks run on the Kafka client's IO
thread (kafka-python) or inside the poll (confluent); the rest on the poll thread. The
consumer-lag gauge is kept here too: it is the distance between a partition's high
watermark and its commit position.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterable
from typing import Any

from logpipe.kafka import Consumer, Partition
from logpipe.kafka2cassandra.dead_letter import MAX_REASON
from logpipe.kafka2cassandra.metrics import PollerMetrics
from logpipe.kafka2cassandra.offsets import OffsetTracker
from logpipe.observability import StateLog, get_logger

log = get_logger("poller")

#: Seconds between two updates of the consumer-lag gauge.
LAG_INTERVAL = 5.0


class Commits:
    """Commits the tracker's positions and follows partitions as they come and go.

    The consumer is ``attach``-ed once open (it takes this object as its rebalance
    handler when it is made); ``stop`` is the poller's stop event: once set, a revocation
    no longer waits for writes in flight.
    """

    def __init__(
        self,
        tracker: OffsetTracker,
        metrics: PollerMetrics,
        stop: threading.Event,
        commit_interval: float,
        revoke_wait: float,
    ) -> None:
        self.tracker = tracker
        self.metrics = metrics
        self.consumer: Consumer | None = None
        self._stop = stop
        self._interval = commit_interval
        self._revoke_wait = revoke_wait
        self._state = StateLog(log, "ok")
        self._next_commit = 0.0
        self._next_lag = 0.0

    def attach(self, consumer: Consumer) -> None:
        self.consumer = consumer

    # -- the poll thread ---------------------------------------------------------------

    def start(self, now: float) -> None:
        """Start the schedule: the first commit one interval from ``now``, lag at once."""
        self._next_commit = now + self._interval
        self._next_lag = now

    def tick(self, now: float) -> None:
        """Commit and update the lag gauge when they are due."""
        if now >= self._next_commit:
            self.commit()
            self._next_commit = now + self._interval
        if now >= self._next_lag:
            self.update_lag()
            self._next_lag = now + LAG_INTERVAL

    def commit(self, partitions: Iterable[Partition] | None = None) -> None:
        """Send the positions that moved since last sent (asynchronously)."""
        consumer = self.consumer
        offsets = self.tracker.committable(partitions)
        if not offsets or consumer is None:
            return
        self.tracker.sent(offsets)
        self.metrics.commits.inc()
        try:
            consumer.commit_async(offsets, self._on_committed)
        except Exception as exc:
            self.tracker.failed(offsets)
            log.warning("offset commit not sent", extra={"error": str(exc)[:MAX_REASON]})

    def final(self, timeout: float) -> None:
        """The last commit before closing: every position, waited for."""
        consumer = self.consumer
        if consumer is None:
            return
        offsets = self.tracker.committable(unsent_only=False)
        if not offsets:
            return
        try:
            consumer.commit(offsets, timeout=timeout)
            log.info("offsets committed", extra={"offsets": names(offsets.items())})
        except Exception as exc:
            log.warning("final commit failed", extra={"error": str(exc)[:300]})

    def update_lag(self) -> None:
        consumer = self.consumer
        if consumer is None:
            return
        for tp in self.tracker.partitions():
            high, position = consumer.highwater(tp), self.tracker.position(tp)
            if high is not None and position is not None:
                self.metrics.lag.labels(tp[0], str(tp[1])).set(max(0, high - position))

    def _on_committed(self, offsets: dict[Partition, int], exc: BaseException | None) -> None:
        if exc is not None:
            self.tracker.failed(offsets)
            self._state.set(
                "failing", "offset commits failing; retrying", logging.WARNING, error=str(exc)[:300]
            )
        else:
            self._state.set("ok", "offset commits succeeding again")

    # -- rebalance (the Kafka client's IO thread) -----------------------------------

    def on_assigned(self, partitions: list[Partition]) -> None:
        self.tracker.assign(partitions)
        log.info("partitions assigned", extra={"partitions": names(partitions)})

    def on_revoked(self, partitions: list[Partition]) -> None:
        """Finish what is in flight for these partitions (briefly), commit, let go."""
        wait = 0.0 if self._stop.is_set() else self._revoke_wait
        self.tracker.wait_idle(partitions, wait)
        offsets = self.tracker.committable(partitions, unsent_only=False)
        consumer = self.consumer
        if offsets and consumer is not None:
            try:
                consumer.commit_async(offsets, self._on_committed)
            except Exception as exc:
                log.warning("commit on revocation failed", extra={"error": str(exc)[:300]})
        self.tracker.forget(partitions)
        self._forget_lag(partitions)
        log.info(
            "partitions revoked",
            extra={"partitions": names(partitions), "committed": names(offsets.items())},
        )

    def on_lost(self, partitions: list[Partition]) -> None:
        """Evicted from the group: the new owner starts from the last commit."""
        self.tracker.forget(partitions)
        self._forget_lag(partitions)
        log.warning("partitions lost", extra={"partitions": names(partitions)})

    def _forget_lag(self, partitions: Iterable[Partition]) -> None:
        for topic, partition in partitions:
            with contextlib.suppress(KeyError):
                self.metrics.lag.remove(topic, str(partition))


def names(partitions: Iterable[Any]) -> list[str]:
    """``topic-partition`` (or ``topic-partition@offset`` for (partition, offset) pairs)
    for a log line."""
    out = []
    for item in partitions:
        if isinstance(item[0], tuple):
            (topic, partition), offset = item
            out.append(f"{topic}-{partition}@{offset}")
        else:
            out.append(f"{item[0]}-{item[1]}")
    return out

"""Whether Kafka answers, and opening the producer while it does not.

Both the shipping loop (acknowledgements, send errors) and the start-up (``connect``)
feed one ``KafkaHealth``, so /readyz, the ``kafka_reachable`` gauge and the "kafka
unreachable" log line tell the same story, logged once per change. (/healthz is not
about Kafka: it fails only when the loop stops turning.)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from logpipe.kafka import KafkaUnavailable, Producer
from logpipe.logs2kafka.metrics import Metrics
from logpipe.observability import StateLog, get_logger

# The outage lines have always been logged as the pipeline's; operators' alerts match it.
log = get_logger("pipeline")


class KafkaHealth:
    """Whether Kafka answers, as seen from acknowledgements and send errors.

    Logged once per change through StateLog; read by /healthz and /readyz from the
    HTTP thread (plain attribute reads, no lock needed).
    """

    def __init__(self, metrics: Metrics) -> None:
        self._state = StateLog(log, initial="reachable")
        self._metrics = metrics
        self.unreachable_since: float | None = None

    def reachable(self) -> None:
        if self.unreachable_since is None:
            return
        down_for = time.monotonic() - self.unreachable_since
        self.unreachable_since = None
        self._metrics.kafka_reachable.set(1)
        self._state.set("reachable", "kafka reachable again", outage_seconds=round(down_for, 1))

    def unreachable(self, reason: str) -> None:
        if self.unreachable_since is None:
            self.unreachable_since = time.monotonic()
            self._metrics.kafka_reachable.set(0)
        self._state.set("unreachable", "kafka unreachable", level=logging.WARNING, reason=reason)

    def is_reachable(self) -> bool:
        return self.unreachable_since is None


def connect(
    factory: Callable[[], Producer],
    health: KafkaHealth,
    stop: threading.Event,
    retry_every: float = 2.0,
) -> Producer | None:
    """Open the producer, retrying while Kafka does not answer; None if stopped first.

    A host may boot before Kafka is reachable: the daemon waits (logging the outage once)
    instead of exiting, and the tailer keeps its start position meanwhile. A refusal
    (``KafkaAccessDenied``: wrong credentials, untrusted certificate) is not waited on:
    it propagates, so the operator sees it at once.
    """
    while not stop.is_set():
        try:
            producer = factory()
        except KafkaUnavailable as exc:
            health.unreachable(str(exc))
            stop.wait(retry_every)
            continue
        health.reachable()
        return producer
    return None

"""An in-memory stand-in for logpipe's producer, for unit tests of the logs2kafka pipeline.

Every send is kept with its callback until the test completes it (``complete``): the test,
not a broker, decides when and how each record is acknowledged, so the pipeline's
bookkeeping (tokens, the pending bound, re-sends) can be checked step by step.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable

from logpipe.envelope import decode
from logpipe.kafka import NO_TOKEN, KafkaUnavailable


class FakeProducer:
    """Keeps the callbacks so a test decides when (and how) each send completes.

    ``down`` makes a send fail as an unreachable broker does; ``refuse`` is raised by a
    send, as a client refusing the record. Safe to complete from another thread than the
    one sending (a Forwarder runs in a thread of its own).
    """

    topic = "t"

    def __init__(self, max_message_bytes: int = 1_048_576) -> None:
        self.lock = threading.Lock()
        self.sent: list[tuple[bytes, Callable[..., None]]] = []  # (value, on_ack)
        self.delivered: list[str] = []  # the lines acknowledged, in order
        self.down = False
        self.refuse: Exception | None = None
        self.max_message_bytes = max_message_bytes

    def send(self, key, value, on_ack, token=NO_TOKEN):
        if self.down:
            raise KafkaUnavailable("metadata timeout")
        if self.refuse is not None:
            raise self.refuse
        if token is not NO_TOKEN:
            on_ack = functools.partial(lambda cb, t, error: cb(error, t), on_ack, token)
        with self.lock:
            self.sent.append((value, on_ack))

    def poll(self, timeout=0.0):
        return None

    def flush(self, timeout=None):
        return True

    def close(self, timeout=5.0):
        return None

    def complete(self, error: Exception | None = None) -> list[str]:
        """Complete every send held so far with ``error`` (None: acknowledged); their lines."""
        with self.lock:
            sent, self.sent = self.sent, []
        logs = []
        for value, on_ack in sent:
            log = decode(value).log
            logs.append(log)
            if error is None:
                self.delivered.append(log)
            on_ack(error)
        return logs

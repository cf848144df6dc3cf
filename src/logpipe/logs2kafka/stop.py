"""Stopping cleanly on SIGTERM/SIGINT, for ``tail`` and ``ship`` alike.

A signal only sets an event: the loop notices it, flushes what Kafka has not yet
acknowledged and writes the checkpoint, instead of dying inside a send.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from typing import Any


class StopSignal:
    """SIGTERM/SIGINT set an event instead of raising, so the loop stops cleanly."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signalled_at: float | None = None
        #: Called (in the signal handler) after the event is set, e.g. to end a sleep.
        self.on_stop: Callable[[], None] | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> StopSignal:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, _frame: Any) -> None:
        self.set()

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def set(self) -> None:
        if self.signalled_at is None:
            self.signalled_at = time.monotonic()
        self.event.set()
        if self.on_stop is not None:
            self.on_stop()

"""Retry delays shared by every loop that waits for a service to come back.

One backoff for the whole product, so a reconnecting consumer, a write retried against
Cassandra and a daemon waiting at start-up all pace themselves the same way.
"""

from __future__ import annotations

import random
from collections.abc import Callable

#: First delay (seconds) and the most a delay grows to, unless a caller says otherwise.
BASE = 0.5
CAP = 15.0


class Backoff:
    """Exponential backoff with jitter: each delay is drawn from [d/2, d], where d
    doubles from ``base`` up to ``cap``. The jitter keeps a group of clients from
    retrying against a recovering service in lockstep."""

    def __init__(
        self,
        base: float = BASE,
        cap: float = CAP,
        factor: float = 2.0,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if base <= 0 or cap < base or factor < 1:
            raise ValueError("need 0 < base <= cap and factor >= 1")
        self.base, self.cap, self.factor = base, cap, factor
        self._rng = rng
        self.attempts = 0

    def next(self) -> float:
        """The delay before the next attempt (and count the attempt)."""
        ceiling = min(self.cap, self.base * self.factor**self.attempts)
        self.attempts += 1
        return ceiling / 2 + self._rng() * ceiling / 2

    def reset(self) -> None:
        """Start over from ``base`` (after a success)."""
        self.attempts = 0

"""Asking a running daemon how it is, over its metrics port: /readyz, /metrics.

Both daemons answer ``/readyz`` with 200 once they can do their work and 503 while they
cannot (Kafka or Cassandra away); the demo, the benchmarks and the tests wait for that 200
before they send traffic, here in one place.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable

from logpipe_testkit.ports import HOST


class NotReady(RuntimeError):
    """The daemon exited, or did not report ready in time."""


def http_get(url: str, timeout: float = 3.0) -> tuple[int, bytes]:
    """The status and body of a GET; an error status (503 ...) is an answer too.
    ``(0, b"")`` when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def http_status(url: str, timeout: float = 3.0) -> int:
    """The status of a GET (0 when nothing answers)."""
    return http_get(url, timeout)[0]


def readyz(port: int, timeout: float = 3.0) -> int:
    """What a daemon's ``/readyz`` answers: 200 ready, 503 not ready, 0 nothing listening."""
    return http_status(f"http://{HOST}:{port}/readyz", timeout)


def wait_ready(
    port: int,
    timeout: float = 60.0,
    *,
    name: str = "the daemon",
    alive: Callable[[], bool] = lambda: True,
    details: Callable[[], str] = lambda: "",
) -> None:
    """Return once the daemon on ``port`` answers 200 on /readyz, else raise NotReady.

    ``alive`` tells whether the daemon still runs (``lambda: proc.poll() is None``): one that
    exited fails at once instead of after the whole timeout. ``details`` (the tail of its
    log, say) is added to the error, so that a failure shows why.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise _not_ready(f"{name} exited", details)
        if readyz(port, timeout=1.0) == 200:
            return
        time.sleep(0.2)
    raise _not_ready(f"{name} not ready after {timeout:.0f} s", details)


def _not_ready(what: str, details: Callable[[], str]) -> NotReady:
    more = details()
    return NotReady(f"{what}:\n{more}" if more else what)

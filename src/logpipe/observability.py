"""Logs, metrics and health endpoints shared by both daemons.

Logs are JSON lines (python-json-logger) when not on a terminal, so a pod's or a
journal's output can be searched by field. Metrics are Prometheus; ``/healthz`` (alive)
and ``/readyz`` (dependencies reachable) are served on the same port so one probe
configuration fits both daemons.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pythonjsonlogger.json import JsonFormatter

from logpipe.config.settings import METRICS_ADDRESS, default_log_format

LOGGER_NAME = "logpipe"


def iso_utc(record: logging.LogRecord) -> str:
    """The record's time in ISO 8601, UTC, with milliseconds: ``2026-11-29T09:53:44.612Z``
    (one form whatever the host's zone, sortable, and read by every log tool)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{stamp}.{int(record.msecs):03d}Z"


class _JsonFormatter(JsonFormatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return iso_utc(record)


class _TextFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return iso_utc(record)


def setup_logging(level: str = "info", fmt: str | None = None) -> None:
    """Route logpipe's logs (and the clients' warnings) to stderr in the chosen format."""
    fmt = (fmt or default_log_format()).lower()
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(
            _JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(_TextFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger(LOGGER_NAME).setLevel(level.upper())
    # The Cassandra driver logs every failed reconnection attempt with a traceback;
    # logpipe logs each change of Cassandra's state once itself (with the driver's
    # reason), so the driver speaks only when debugging.
    logging.getLogger("cassandra").setLevel(
        logging.DEBUG if level.lower() == "debug" else logging.CRITICAL
    )


def get_logger(name: str) -> logging.Logger:
    """A logger under the ``logpipe`` namespace."""
    return logging.getLogger(f"{LOGGER_NAME}.{name}")


class StateLog:
    """Logs a state only when it changes, so an outage is one line, not one per record."""

    def __init__(self, logger: logging.Logger, initial: str | None = None) -> None:
        self._logger = logger
        self._state = initial
        self._lock = threading.Lock()

    @property
    def state(self) -> str | None:
        return self._state

    def set(self, state: str, message: str, level: int = logging.INFO, **extra: object) -> bool:
        """Record ``state``; log ``message`` if it differs from the last one. True if logged."""
        with self._lock:
            if state == self._state:
                return False
            self._state = state
        self._logger.log(level, message, extra={"state": state, **extra})
        return True


Check = Callable[[], bool]


class HealthServer:
    """Serves /metrics, /healthz and /readyz from one small HTTP server thread.

    ``live`` and ``ready`` are callables evaluated on each request; a probe gets 200
    when they return True and 503 otherwise.
    """

    def __init__(
        self,
        port: int,
        live: Check,
        ready: Check,
        registry: CollectorRegistry = REGISTRY,
        host: str = METRICS_ADDRESS.default,
    ) -> None:
        probes = {"/healthz": live, "/livez": live, "/readyz": ready}
        checks = {path: _Probe(path, check) for path, check in probes.items()}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    body, status, ctype = generate_latest(registry), 200, CONTENT_TYPE_LATEST
                elif path in checks:
                    ok = checks[path].passes()
                    body = b"ok\n" if ok else b"unavailable\n"
                    status, ctype = (200 if ok else 503), "text/plain; charset=utf-8"
                else:
                    body, status, ctype = b"not found\n", 404, "text/plain; charset=utf-8"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        server_class = _IPv6Server if ":" in host else ThreadingHTTPServer
        self._server = server_class((host.strip("[]"), port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="health-http", daemon=True
        )

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _IPv6Server(ThreadingHTTPServer):
    """The same server on an IPv6 address (``::`` also accepts IPv4 where the host allows)."""

    address_family = socket.AF_INET6


class _Probe:
    """One health check as the HTTP thread runs it: a check that raises fails the probe
    (503, never a 500), and its exception is logged with the traceback whenever its text
    changes, so a probe that fails forever says why, once."""

    def __init__(self, path: str, check: Check) -> None:
        self.path = path
        self._check = check
        self._last_error: str | None = None

    def passes(self) -> bool:
        try:
            ok = bool(self._check())
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            if reason != self._last_error:
                self._last_error = reason
                get_logger("health").exception("health check %s raised", self.path)
            return False
        self._last_error = None
        return ok

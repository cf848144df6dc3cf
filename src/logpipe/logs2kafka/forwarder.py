"""logs2kafka tail: follow files, ship every line, move the checkpoint on acknowledgement.

The Tailer (``logpipe.logs2kafka.tail``) reads lines and keeps the checkpoints; the Pipeline
(``logpipe.logs2kafka.pipeline``) parses, produces and reports acknowledgements; the Forwarder
ties them: a line's position goes to ``Tailer.ack`` only once Kafka acknowledged it,
and SIGTERM/SIGINT flush, write the checkpoint and return within the shutdown timeout.
This module also builds those pieces from the command-line options (``run_tail``).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any, BinaryIO

from prometheus_client import CollectorRegistry

from logpipe.config.connections import KafkaConnection
from logpipe.kafka import (
    KafkaAccessDenied,
    Producer,
    ProducerSettings,
    build_client_config,
    open_producer,
    redact,
)
from logpipe.logs2kafka.pipeline import (
    KafkaHealth,
    Metrics,
    Parser,
    Pipeline,
    PipelineSettings,
    PrintProducer,
    StopSignal,
    connect,
)
from logpipe.observability import HealthServer, get_logger

__all__ = [
    "Forwarder",
    "KafkaHealth",
    "Metrics",
    "Pipeline",
    "PipelineSettings",
    "PrintProducer",
    "SetupError",
    "StopSignal",
    "connect",
    "run_tail",
]

log = get_logger("forwarder")


def default_state_dir() -> Path:
    """/var/lib/logs2kafka where it can be written (a service), else the user's state dir."""
    system = Path("/var/lib/logs2kafka")
    if system.is_dir() and os.access(system, os.W_OK):
        return system
    if not system.exists() and os.access(system.parent, os.W_OK):
        return system
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "logs2kafka"


@contextlib.contextmanager
def dry_run_state(state_dir: Path) -> Iterator[Path]:
    """A scratch copy of the checkpoints: a dry run starts where a real run would, and
    moves no real checkpoint (lines it printed were not shipped)."""
    scratch = Path(tempfile.mkdtemp(prefix="logs2kafka-dry-run-"))
    try:
        if state_dir.is_dir():
            shutil.copytree(state_dir, scratch, dirs_exist_ok=True)
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


class Forwarder:
    """``logs2kafka tail``: follows files and ships every line, checkpointing on ack.

    ``tailer`` is a ``logpipe.logs2kafka.tail.Tailer`` (poll / ack / flush_checkpoints / close).
    """

    def __init__(
        self,
        tailer: Any,
        connect: Callable[[], Producer],
        parser: Parser,
        source: str,
        settings: PipelineSettings | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings or PipelineSettings()
        self.metrics = metrics or Metrics()
        self.health = KafkaHealth(self.metrics, self.settings.unhealthy_after)
        self.tailer = tailer
        self._connect = connect
        self._parser = parser
        self._key = source.encode("utf-8")
        self.producer: Producer | None = None
        self.pipeline: Pipeline | None = None
        self.stop_signal = StopSignal()
        self.stop_signal.on_stop = tailer.wakeup
        self._behind_paths: set[str] = set()

    def _ack(self, line: Any) -> None:
        self.tailer.ack(line.file_id, line.end_offset)

    def stop(self) -> None:
        """Ask the loop to stop (what SIGTERM does); safe from any thread."""
        self.stop_signal.set()

    def run(self) -> int:
        """Ship until stopped; then flush, checkpoint and return 0 within the timeout."""
        stop = self.stop_signal.install()
        try:
            self.producer = connect(self._connect, self.health, stop.event)
            if self.producer is None:  # stopped before Kafka answered
                self.tailer.flush_checkpoints()
                self.tailer.close()
                return 0
            self.pipeline = Pipeline(
                self.producer,
                self._parser,
                self._key,
                self.settings,
                self.metrics,
                self.health,
                self._ack,
            )
        except BaseException:
            stop.restore()
            self.tailer.close()
            raise
        pipeline = self.pipeline
        settings = self.settings
        tailer = self.tailer
        log.info("shipping", extra={"topic": self.producer.topic})
        next_metrics = 0.0
        next_behind = 0.0
        try:
            while not stop.event.is_set():
                pipeline.pump()
                room = pipeline.room()
                got = 0
                if room > 0:
                    lines = tailer.poll(max_lines=min(room, settings.chunk))
                    got = len(lines)
                    submit = pipeline.submit
                    for line in lines:
                        submit(line.data, line.truncated, line)
                now = time.monotonic()
                if now >= next_metrics:
                    pipeline.publish_metrics()
                    next_metrics = now + 1.0
                if now >= next_behind:
                    self._publish_bytes_behind()
                    next_behind = now + 5.0
                if room <= 0:
                    stop.event.wait(settings.full_sleep)
                elif got < min(room, settings.chunk):
                    # Caught up: sleep until the files grow (or a stop signal arrives).
                    tailer.wait(settings.idle_sleep)
        finally:
            self._shutdown()
            stop.restore()
        return 0

    def _shutdown(self) -> None:
        assert self.pipeline is not None and self.producer is not None
        started = self.stop_signal.signalled_at or time.monotonic()
        deadline = started + self.settings.shutdown_timeout
        # Keep a margin for the checkpoint write and closing the client.
        flush_deadline = deadline - min(2.0, self.settings.shutdown_timeout / 4)
        log.info("stopping: flushing", extra={"pending": self.pipeline.pending})
        complete = self.pipeline.wait_all_acked(flush_deadline)
        try:
            self.tailer.flush_checkpoints()
        finally:
            self.tailer.close()
            self.producer.close(timeout=max(0.0, deadline - time.monotonic() - 0.2))
        self.pipeline.publish_metrics()
        log.info(
            "stopped",
            extra={
                "complete": complete,
                "unacknowledged": self.pipeline.pending,
                "shipped": self.pipeline.shipped,
            },
        )

    def _publish_bytes_behind(self) -> None:
        gauge = self.metrics.bytes_behind
        current = {}
        for status in self.tailer.files():
            current[status.path] = current.get(status.path, 0) + status.bytes_behind
        for path, behind in current.items():
            gauge.labels(path=path).set(behind)
        for path in self._behind_paths - current.keys():
            gauge.remove(path)
        self._behind_paths = set(current)

    def live(self) -> bool:
        """False once Kafka has been unreachable for longer than ``unhealthy_after``."""
        return self.health.is_healthy()

    def ready(self) -> bool:
        """Connected to Kafka and Kafka answering (not before the first connection)."""
        return self.producer is not None and self.health.is_reachable()


def serve_health(port: int | None, forwarder_like: Any, registry: CollectorRegistry) -> Any:
    """Start /metrics, /healthz, /readyz on ``port`` (None: off). Returns the server."""
    if port is None:
        return None
    return HealthServer(
        port, live=forwarder_like.live, ready=forwarder_like.ready, registry=registry
    ).start()


def stdout_binary() -> BinaryIO:
    return sys.stdout.buffer


def limit_malloc_arenas(arenas: int = 1) -> None:
    """Make glibc's malloc serve every thread from one arena (call before threads start).

    The Kafka client's IO thread would otherwise get an arena of its own; buffers made in
    one thread and freed in the other fragment both, which cost about a third of the
    peak RSS under load. Under the GIL only one thread allocates at a time anyway, so a
    single arena costs no contention. A no-op where malloc is not glibc's.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_ARENA_MAX, arenas)
    except (OSError, AttributeError):
        pass


_M_ARENA_MAX = -8


def producer_settings(opts: dict[str, Any]) -> ProducerSettings:
    """The producer part of the command-line options (see settings.PRODUCER)."""
    return ProducerSettings(
        compression=opts.get("compression") or "lz4",
        linger_ms=opts.get("linger_ms", 20),
        batch_size=opts.get("batch_size", 256 * 1024),
        max_in_flight=opts.get("max_in_flight", 5),
        client=opts.get("kafka_client") or "kafka-python",
    )


def pipeline_settings(opts: dict[str, Any]) -> PipelineSettings:
    """The pending bound, health threshold and stop timeout of the command-line options."""
    defaults = PipelineSettings()
    return PipelineSettings(
        max_pending=opts.get("max_pending") or defaults.max_pending,
        unhealthy_after=opts.get("unhealthy_after") or defaults.unhealthy_after,
        shutdown_timeout=opts.get("shutdown_timeout") or defaults.shutdown_timeout,
    )


def producer_factory(opts: dict[str, Any]) -> Callable[[], Producer]:
    """How to open the producer the options ask for (a printer with ``--dry-run``)."""
    if opts.get("dry_run"):
        return lambda: PrintProducer(stdout_binary(), topic=opts["topic"])
    conn = KafkaConnection.from_options(opts)
    prod = producer_settings(opts)
    log.info(
        "kafka",
        extra={"topic": opts["topic"], "kafka": redact(build_client_config(conn)), **asdict(prod)},
    )
    return lambda: open_producer(conn, opts["topic"], prod)


def make_parser(opts: dict[str, Any]) -> tuple[Parser, str]:
    """The line parser of the options, and the source (host name unless given)."""
    from logpipe.formats import LineParser

    source = opts.get("source") or socket.gethostname()
    parser = LineParser(
        fmt=opts.get("format") or "combined",
        source=source,
        type=opts.get("type") or None,
        max_line_bytes=opts["max_line_bytes"],
    )
    return parser, source


class SetupError(Exception):
    """The options do not make a working daemon (bad format, SASL without a password,
    state directory not writable, port taken): said in one line, not a traceback."""


def run_tail(paths: list[str], opts: dict[str, Any]) -> int:
    """``logs2kafka tail``: build the tailer, parser and producer from the options; run."""
    from logpipe.logs2kafka.checkpoint import CheckpointError, CheckpointStore
    from logpipe.logs2kafka.tail import Tailer

    limit_malloc_arenas()
    try:
        parser, source = make_parser(opts)
        factory = producer_factory(opts)
    except ValueError as exc:
        raise SetupError(str(exc)) from exc
    state_dir = Path(opts["state_dir"]) if opts.get("state_dir") else default_state_dir()
    scratch = dry_run_state(state_dir) if opts.get("dry_run") else contextlib.nullcontext(state_dir)
    with scratch as directory:
        try:
            tailer = Tailer(
                patterns=list(paths),
                store=CheckpointStore(directory),
                from_beginning=bool(opts.get("from_beginning")),
                max_line_bytes=opts["max_line_bytes"],
                partial_line_timeout=opts.get("partial_line_timeout", 5.0),
            )
        except (CheckpointError, ValueError) as exc:
            raise SetupError(str(exc)) from exc
        metrics = Metrics()
        forwarder = Forwarder(tailer, factory, parser, source, pipeline_settings(opts), metrics)
        try:
            server = serve_health(opts.get("metrics_port"), forwarder, metrics.registry)
        except OSError as exc:
            tailer.close()
            raise SetupError(f"metrics port {opts.get('metrics_port')}: {exc}") from exc
        log.info(
            "following",
            extra={"paths": list(paths), "state_dir": str(directory), "source": source},
        )
        try:
            return forwarder.run()
        except KafkaAccessDenied as exc:
            log.error("kafka refused the connection", extra={"reason": str(exc)})
            raise SetupError(str(exc)) from exc
        finally:
            if server is not None:
                server.stop()

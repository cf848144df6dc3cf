"""logs2kafka's loop: tail -> parse -> produce -> checkpoint on acknowledgement.

Guarantees, and where they come from:

- Nothing lost: a file position is handed to the tailer (``Tailer.ack``) only after
  Kafka acknowledged the line with ``acks=all``; a line the client gave up on is sent
  again, never dropped.
- Bounded memory: at most ``max_pending`` lines are between the file and Kafka's
  acknowledgement; when Kafka is down or slow, reading simply pauses.
- One thread touches the tailer: acknowledgements are collected by the producer's
  ``poll`` on the main loop's thread (a deque also accepts them from another thread:
  append and popleft are atomic) and handed to the tailer by the main loop only.
- Quiet outages: "kafka unreachable" and "kafka reachable again" are each logged once
  per change, never once per line.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge

from logpipe.envelope import LogEntry, encode
from logpipe.kafka import (
    NO_TOKEN,
    KafkaUnavailable,
    Producer,
    ProducerSettings,
    build_client_config,
    open_producer,
    redact,
)
from logpipe.observability import HealthServer, StateLog, get_logger
from logpipe.settings import KafkaConnection

log = get_logger("forwarder")


class Parser(Protocol):
    """What the pipeline needs from ``logpipe.formats.LineParser``."""

    def parse(self, line: bytes, truncated: bool = False, read_time: Any = None) -> LogEntry: ...


@dataclass(frozen=True)
class PipelineSettings:
    """How much may be in flight and when Kafka counts as unreachable."""

    #: Lines read but not yet acknowledged by Kafka; reading pauses at this bound.
    max_pending: int = 20_000
    #: Lines taken from the tailer per poll.
    chunk: int = 2_000
    #: Lines pending with no acknowledgement for this long: Kafka is unreachable.
    stall_after: float = 10.0
    #: /healthz fails when Kafka has been unreachable for longer than this.
    unhealthy_after: float = 60.0
    #: Wait between polls when the files have nothing new.
    idle_sleep: float = 0.1
    #: Wait between polls when the pending bound is reached.
    full_sleep: float = 0.01
    #: Seconds allowed for a clean stop (flush + checkpoint) after SIGTERM/SIGINT.
    shutdown_timeout: float = 20.0


class Metrics:
    """The Prometheus metrics of logs2kafka, in a registry of their own (one per run)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.lines_read = Counter("logs2kafka_lines_read", "Lines read from files.", registry=r)
        self.lines_shipped = Counter(
            "logs2kafka_lines_shipped", "Lines acknowledged by Kafka.", registry=r
        )
        self.lines_failed = Counter(
            "logs2kafka_lines_failed",
            "Sends the Kafka client gave up on (each such line is sent again).",
            registry=r,
        )
        self.parse_errors = Counter(
            "logs2kafka_parse_errors", "Lines shipped flagged with parse_error.", registry=r
        )
        self.pending = Gauge(
            "logs2kafka_pending_lines",
            "Producer queue depth: lines sent to the client and not yet acknowledged.",
            registry=r,
        )
        self.bytes_behind = Gauge(
            "logs2kafka_bytes_behind",
            "Bytes of a file not yet acknowledged by Kafka.",
            ["path"],
            registry=r,
        )
        self.kafka_reachable = Gauge(
            "logs2kafka_kafka_reachable", "1 when Kafka answers, 0 when it does not.", registry=r
        )
        self.kafka_reachable.set(1)


class KafkaHealth:
    """Whether Kafka answers, as seen from acknowledgements and send errors.

    Logged once per change through StateLog; read by /healthz and /readyz from the
    HTTP thread (plain attribute reads, no lock needed).
    """

    def __init__(self, metrics: Metrics, unhealthy_after: float) -> None:
        self._state = StateLog(log, initial="reachable")
        self._metrics = metrics
        self.unhealthy_after = unhealthy_after
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

    def is_healthy(self) -> bool:
        since = self.unreachable_since
        return since is None or time.monotonic() - since <= self.unhealthy_after


#: A line on its way: raw bytes, cut at max_line_bytes?, the caller's token.
_Record = tuple[bytes, bool, Any]


class Pipeline:
    """Raw lines in, acknowledged tokens out: parse, encode, produce, re-send, count.

    ``submit`` takes one line and an opaque token (the tailer's Line, or None);
    ``pump`` hands the tokens of acknowledged lines to ``on_acked`` and re-sends lines
    the client failed. Called from one thread only.
    """

    def __init__(
        self,
        producer: Producer,
        parser: Parser,
        key: bytes,
        settings: PipelineSettings,
        metrics: Metrics,
        health: KafkaHealth,
        on_acked: Callable[[Any], None],
    ) -> None:
        self._producer = producer
        self._parse = parser.parse
        self._key = key
        self._settings = settings
        self._metrics = metrics
        self._health = health
        self._on_acked = on_acked
        self._acks: deque[tuple[BaseException | None, _Record]] = deque()
        self._ack_callback = self._on_ack  # one bound method for every record
        self._retry: deque[_Record] = deque()
        self._next_retry = 0.0
        self._last_progress = time.monotonic()
        self.pending = 0
        self.read = 0
        self.shipped = 0
        self.failed = 0
        self.parse_errors = 0
        self._published = (0, 0, 0, 0)

    def room(self) -> int:
        """How many more lines may be read now (0 while Kafka is behind or down)."""
        if self._retry:
            return 0
        return self._settings.max_pending - self.pending

    def submit(self, data: bytes, truncated: bool, token: Any) -> None:
        """Parse, encode and produce one line; ``token`` comes back through ``on_acked``."""
        self.read += 1
        if self.pending == 0:
            self._last_progress = time.monotonic()
        self.pending += 1
        record = (data, truncated, token)
        if self._retry:  # keep the order behind lines waiting to be sent again
            self._retry.append(record)
            return
        entry = self._parse(data, truncated)
        if entry.parse_error is not None:
            self.parse_errors += 1
        if not self._produce(encode(entry), record):
            self._retry.append(record)

    def _produce(self, value: bytes, record: _Record) -> bool:
        # The callback keeps the raw line, not the envelope: the line is smaller, and the
        # encoder's output buffers are over-allocated (kilobytes each), which would
        # multiply the memory held by max_pending lines. A failed line is encoded again.
        try:
            self._producer.send(self._key, value, self._ack_callback, record)
        except KafkaUnavailable as exc:
            self._health.unreachable(str(exc))
            self._next_retry = time.monotonic() + 1.0
            return False
        return True

    def _on_ack(self, exc: BaseException | None, record: _Record) -> None:
        self._acks.append((exc, record))

    def pump(self) -> int:
        """Handle the acknowledgements that arrived; re-send failures. Returns lines acked."""
        self._producer.poll(0)
        acks = self._acks
        on_acked = self._on_acked
        done = 0
        failed = 0
        error: BaseException | None = None
        while acks:
            exc, record = acks.popleft()
            if exc is None:
                done += 1
                on_acked(record[2])
            else:
                failed += 1
                error = exc
                self._retry.append(record)
        now = time.monotonic()
        if done:
            self.pending -= done
            self.shipped += done
            self._last_progress = now
            self._health.reachable()
        if failed:
            self.failed += failed
            self._health.unreachable(f"send failed: {error}")
        elif self.pending and now - self._last_progress > self._settings.stall_after:
            self._health.unreachable(
                f"no acknowledgement for {self._settings.stall_after:.0f} s "
                f"with {self.pending} lines pending"
            )
        if self._retry and now >= self._next_retry:
            self._resend()
        return done

    def _resend(self) -> None:
        """Send the waiting lines again, oldest first; stop at the first refusal."""
        retry = self._retry
        while retry:
            record = retry[0]
            entry = self._parse(record[0], record[1])
            if not self._produce(encode(entry), record):
                return
            retry.popleft()

    def publish_metrics(self) -> None:
        """Copy the plain counters into Prometheus (cheaper than per-line increments)."""
        now = (self.read, self.shipped, self.failed, self.parse_errors)
        before = self._published
        m = self._metrics
        for counter, new, old in zip(
            (m.lines_read, m.lines_shipped, m.lines_failed, m.parse_errors),
            now,
            before,
            strict=True,
        ):
            if new > old:
                counter.inc(new - old)
        self._published = now
        m.pending.set(self.pending)

    def wait_all_acked(self, deadline: float | None, stop: threading.Event | None = None) -> bool:
        """Pump until nothing is pending, ``deadline`` (monotonic) passes or ``stop`` is set."""
        while self.pending:
            self.pump()
            if not self.pending:
                break
            if deadline is not None and time.monotonic() >= deadline:
                return False
            if stop is not None and stop.is_set():
                return False
            time.sleep(0.005)
        return True


class PrintProducer:
    """``--dry-run``: writes each envelope as one line to a stream and acknowledges it."""

    def __init__(self, stream: BinaryIO, topic: str = "-") -> None:
        self.topic = topic
        self._stream = stream

    def send(
        self, key: bytes, value: bytes, on_ack: Callable[..., None], token: Any = NO_TOKEN
    ) -> None:
        self._stream.write(value + b"\n")
        if token is NO_TOKEN:
            on_ack(None)
        else:
            on_ack(None, token)

    def poll(self, timeout: float = 0.0) -> None:
        return None

    def flush(self, timeout: float | None = None) -> bool:
        self._stream.flush()
        return True

    def close(self, timeout: float = 5.0) -> None:
        self._stream.flush()


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


def connect(
    factory: Callable[[], Producer],
    health: KafkaHealth,
    stop: threading.Event,
    retry_every: float = 2.0,
) -> Producer | None:
    """Open the producer, retrying while Kafka does not answer; None if stopped first.

    A host may boot before Kafka is reachable: the daemon waits (logging the outage once)
    instead of exiting, and the tailer keeps its start position meanwhile.
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


class Forwarder:
    """``logs2kafka tail``: follows files and ships every line, checkpointing on ack.

    ``tailer`` is a ``logpipe.tail.Tailer`` (poll / ack / flush_checkpoints / close).
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
        return self.health.is_healthy()

    def ready(self) -> bool:
        return self.health.is_reachable()


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
    from logpipe.checkpoint import CheckpointError, CheckpointStore
    from logpipe.tail import Tailer

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
        finally:
            if server is not None:
                server.stop()

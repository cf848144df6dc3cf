"""``logs2kafka tail``: follow files, ship every line, move the checkpoint on acknowledgement.

The Tailer (``logpipe.logs2kafka.tail``) reads lines and keeps the checkpoints; the Pipeline
(``logpipe.logs2kafka.pipeline``) parses, produces and reports acknowledgements; the Forwarder
ties them: a line's position goes to ``Tailer.ack`` only once Kafka acknowledged it,
and SIGTERM/SIGINT flush, write the checkpoint and return within the shutdown timeout.
``run_tail`` builds those pieces from the command-line options (through ``setup``) and runs.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from logpipe.config import settings as S
from logpipe.formats import fast_envelope
from logpipe.kafka import KafkaAccessDenied, Producer
from logpipe.logs2kafka.apache_logs import Routes, declared_routes
from logpipe.logs2kafka.checkpoint import CheckpointError, CheckpointStore
from logpipe.logs2kafka.dry_run import dry_run_state
from logpipe.logs2kafka.health import KafkaHealth, connect
from logpipe.logs2kafka.metrics import Metrics
from logpipe.logs2kafka.pipeline import Parser, Pipeline, PipelineSettings
from logpipe.logs2kafka.rejects import Rejects, line_place
from logpipe.logs2kafka.setup import (
    SetupError,
    apache_config,
    default_state_dir,
    pipeline_settings,
    serve_health,
    setting_value,
    shipping_parts,
)
from logpipe.logs2kafka.stop import StopSignal
from logpipe.logs2kafka.tail import Tailer
from logpipe.observability import get_logger

log = get_logger("forwarder")


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
        rejects: Rejects | None = None,
        routes: Routes | None = None,
    ) -> None:
        self.settings = settings or PipelineSettings()
        self.routes = routes
        self.rejects = rejects
        self.metrics = metrics or Metrics()
        self.health = KafkaHealth(self.metrics)
        #: When the loop last turned (monotonic): /healthz, whatever Kafka does.
        self.last_turn = time.monotonic()
        self.tailer = tailer
        self._connect = connect
        self._parser = parser
        self._key = source.encode("utf-8")
        self.producer: Producer | None = None
        self.pipeline: Pipeline | None = None
        self.stop_signal = StopSignal()
        self.stop_signal.on_stop = tailer.wakeup
        self._behind_paths: set[str] = set()
        self._lost_bytes = 0  # tailer.lost_bytes already counted in the metric
        self._checkpoint_writes = 0  # tailer.checkpoint_writes already counted

    def _ack(self, line: Any) -> None:
        self.tailer.ack(line.file_id, line.end_offset)

    def stop(self) -> None:
        """Ask the loop to stop (what SIGTERM does); safe from any thread."""
        self.stop_signal.set()

    def run(self) -> int:
        """Ship until stopped; then flush, checkpoint and return 0 within the timeout."""
        stop = self.stop_signal.install()
        try:
            self.producer = connect(self._connect_following, self.health, stop.event)
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
                rejects=self.rejects,
                lookback=self.tailer.lines_before,
                routes=self.routes.all if self.routes is not None else (),
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
        route_of = self.routes.for_line if self.routes is not None else None
        try:
            while not stop.event.is_set():
                self.last_turn = time.monotonic()
                pipeline.pump()
                room = pipeline.room()
                got = 0
                if room > 0:
                    lines = tailer.poll(max_lines=min(room, settings.chunk))
                    got = len(lines)
                    submit = pipeline.submit
                    if route_of is None:
                        for line in lines:
                            submit(line.data, line.truncated, line, line.line_id, line.file_id)
                    else:
                        for line in lines:
                            submit(
                                line.data,
                                line.truncated,
                                line,
                                line.line_id,
                                line.file_id,
                                route_of(line),
                            )
                now = time.monotonic()
                if now >= next_metrics:
                    pipeline.publish_metrics()
                    self._publish_tailer_counts()
                    next_metrics = now + 1.0
                if now >= next_behind:
                    self._publish_file_metrics()
                    next_behind = now + 5.0
                if room <= 0:
                    # No line may be taken, but rotations go on: keep following the files.
                    tailer.maintain()
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

    def _publish_file_metrics(self) -> None:
        """Bytes behind and unread per path, and bytes lost since the last call."""
        metrics = self.metrics
        behind: dict[str, int] = {}
        unread: dict[str, int] = {}
        for status in self.tailer.files():
            behind[status.path] = behind.get(status.path, 0) + status.bytes_behind
            unread[status.path] = unread.get(status.path, 0) + status.bytes_unread
        for path, value in behind.items():
            metrics.bytes_behind.labels(path=path).set(value)
            metrics.bytes_unread.labels(path=path).set(unread[path])
        for path in self._behind_paths - behind.keys():
            metrics.bytes_behind.remove(path)
            metrics.bytes_unread.remove(path)
        self._behind_paths = set(behind)
        lost = self.tailer.lost_bytes
        if lost > self._lost_bytes:
            metrics.bytes_lost.inc(lost - self._lost_bytes)
            self._lost_bytes = lost

    def _publish_tailer_counts(self) -> None:
        """Files followed and checkpoint writes, into the metrics (once a second)."""
        tailer = self.tailer
        self.metrics.files_followed.set(tailer.followed)
        writes = tailer.checkpoint_writes
        if writes > self._checkpoint_writes:
            self.metrics.checkpoint_writes.inc(writes - self._checkpoint_writes)
            self._checkpoint_writes = writes

    def _connect_following(self) -> Producer:
        """Open the producer; the files are followed between attempts (Kafka down at start)."""
        self.last_turn = time.monotonic()
        self.tailer.maintain()
        return self._connect()

    def live(self) -> bool:
        """False once the loop has not turned for ``unhealthy_after`` seconds: the process
        is stuck, and a restart helps. A Kafka outage is no reason (a restart cannot end
        it; the loop keeps turning, following the files): /readyz says that one."""
        return time.monotonic() - self.last_turn <= self.settings.unhealthy_after

    def ready(self) -> bool:
        """Connected to Kafka, Kafka answering (not before the first connection), and at
        least one file followed (a path that matches nothing ships nothing)."""
        return self.producer is not None and self.health.is_reachable() and self.tailer.followed > 0


def run_tail(paths: list[str], opts: dict[str, Any]) -> int:
    """``logs2kafka tail``: build the tailer, parser and producer from the options; run.

    Without PATH, ``--apache-config`` gives the paths: every log file the host's Apache
    configuration declares, each parsed and keyed as declared (``apache_logs``).
    """
    config = apache_config(opts)
    routes: Routes | None = None
    if not paths:
        if config is None:
            raise SetupError("give the PATHs to follow, or --apache-config")
        try:
            paths, routes = declared_routes(config, opts)
        except ValueError as exc:
            raise SetupError(str(exc)) from exc
    parser, source, factory = shipping_parts(opts, config)
    state_dir = Path(opts["state_dir"]) if opts.get("state_dir") else default_state_dir()
    scratch = dry_run_state(state_dir) if opts.get("dry_run") else contextlib.nullcontext(state_dir)
    with scratch as directory:
        try:
            tailer = Tailer(
                patterns=list(paths),
                store=CheckpointStore(directory),
                from_beginning=bool(opts.get("from_beginning")),
                max_line_bytes=opts["max_line_bytes"],
                partial_line_timeout=setting_value(opts, S.PARTIAL_LINE_TIMEOUT),
            )
        except (CheckpointError, ValueError) as exc:
            raise SetupError(str(exc)) from exc
        metrics = Metrics()
        rejects = Rejects(directory, line_place)
        forwarder = Forwarder(
            tailer, factory, parser, source, pipeline_settings(opts), metrics, rejects, routes
        )
        try:
            server = serve_health(
                opts.get("metrics_port"),
                forwarder,
                metrics.registry,
                setting_value(opts, S.METRICS_ADDRESS),
            )
        except OSError as exc:
            tailer.close()
            raise SetupError(f"metrics port {opts.get('metrics_port')}: {exc}") from exc
        log.info(
            "following",
            extra={
                "paths": list(paths),
                "state_dir": str(directory),
                "source": source,
                # whether the common line is parsed and encoded by the compiled encoder
                "compiled_encoder": parser.envelope is not fast_envelope.none,
            },
        )
        try:
            return forwarder.run()
        except KafkaAccessDenied as exc:
            log.error("kafka refused the connection", extra={"reason": str(exc)})
            raise SetupError(str(exc)) from exc
        finally:
            if server is not None:
                server.stop()

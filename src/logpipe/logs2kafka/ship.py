"""``logs2kafka ship``: send whole files (plain or gzip) to Kafka once.

For backfilling history (last week's rotated ``access.log.*.gz``). No checkpoint: the
command succeeds (exit 0) only when Kafka acknowledged every line, so a failed run is
simply run again. Lines go through the same Pipeline as ``tail`` (same envelope, same
re-send of failed lines, same bound on memory). A line Kafka refuses for good is written
to the reject file under ``--state-dir`` and counted (``rejected`` in the summary): it is
accounted for, so it does not keep ``ship`` from ending, nor from exiting 0.
"""

from __future__ import annotations

import gzip
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from logpipe.kafka import KafkaAccessDenied, Producer
from logpipe.logs2kafka.health import KafkaHealth, connect
from logpipe.logs2kafka.line_ids import read_lines_with_ids
from logpipe.logs2kafka.metrics import Metrics
from logpipe.logs2kafka.pipeline import Parser, Pipeline, PipelineSettings
from logpipe.logs2kafka.rejects import Rejects, file_place
from logpipe.logs2kafka.setup import (
    SetupError,
    apache_config,
    default_state_dir,
    pipeline_settings,
    shipping_parts,
)
from logpipe.logs2kafka.stop import StopSignal
from logpipe.observability import get_logger

log = get_logger("backfill")

_GZIP_MAGIC = b"\x1f\x8b"


class SourceFile:
    """One file to ship, plain or gzip (by its magic bytes, not its name), with the
    position in the file as stored on disk, for progress and ETA."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.size = self.path.stat().st_size
        self._raw: BinaryIO = open(self.path, "rb")  # noqa: SIM115 - closed in close()
        self.compressed = self._raw.read(2) == _GZIP_MAGIC
        self._raw.seek(0)
        self.stream: BinaryIO = (
            gzip.GzipFile(fileobj=self._raw, mode="rb")  # type: ignore[assignment]
            if self.compressed
            else self._raw
        )

    def position(self) -> int:
        """Bytes of the file on disk consumed so far."""
        return self._raw.tell()

    def close(self) -> None:
        if self.stream is not self._raw:
            self.stream.close()
        self._raw.close()


class Progress:
    """A one-line progress display on a terminal: lines, MB/s, percent, ETA."""

    def __init__(self, total_bytes: int, stream: TextIO | None = None) -> None:
        self.total = max(total_bytes, 1)
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self._next = 0.0

    def update(self, lines: int, done_bytes: int, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now < self._next:
            return
        self._next = now + 0.2
        elapsed = max(now - self.started, 1e-6)
        rate = done_bytes / elapsed
        left = (self.total - done_bytes) / rate if rate > 0 else 0.0
        pct = min(100.0, 100.0 * done_bytes / self.total)
        self.stream.write(
            f"\r{lines:>12,} lines  {rate / 1e6:7.1f} MB/s  {pct:5.1f}%  ETA {_clock(left)}  "
        )
        self.stream.flush()

    def finish(self) -> None:
        self.stream.write("\n")
        self.stream.flush()


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds + 0.5))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


@dataclass(frozen=True)
class ShipResult:
    """What ``ship`` did; ``complete`` when Kafka acknowledged every line read (a line
    refused for good and written to the reject file counts as acknowledged)."""

    lines: int
    parse_errors: int
    failed_sends: int
    seconds: float
    complete: bool
    #: CPU time of the process meanwhile (all threads, the Kafka client's included).
    cpu_seconds: float = 0.0
    #: Lines Kafka refused for good, written to the reject file.
    rejected: int = 0
    #: Lines shipped cut (flagged truncated) to fit the topic's limit.
    cut: int = 0

    def summary(self) -> str:
        rate = self.lines / self.seconds if self.seconds > 0 else 0.0
        state = "all acknowledged" if self.complete else "INCOMPLETE"
        return (
            f"{self.lines} lines, {self.parse_errors} parse errors, "
            f"{self.cut} cut to fit, {self.rejected} rejected, "
            f"{self.seconds:.1f} s ({rate:,.0f} lines/s, {self.cpu_seconds:.1f} s CPU), {state}"
        )


def ship(
    paths: list[str],
    open_producer: Callable[[], Producer],
    parser: Parser,
    source: str,
    max_line_bytes: int,
    settings: PipelineSettings | None = None,
    progress: bool = False,
    stop: StopSignal | None = None,
    metrics: Metrics | None = None,
    rejects: Rejects | None = None,
) -> ShipResult:
    """Send every line of ``paths`` and wait until Kafka acknowledged all of them.

    Stops early (``complete=False``) when ``stop`` is set (SIGINT/SIGTERM).
    """
    settings = settings or PipelineSettings()
    metrics = metrics or Metrics()
    health = KafkaHealth(metrics)
    stop = stop or StopSignal()
    sources = [SourceFile(p) for p in paths]  # fail early on a missing file
    for src in sources:
        src.close()
    started = time.monotonic()
    cpu_started = time.process_time()
    producer = connect(open_producer, health, stop.event)
    if producer is None:
        return ShipResult(0, 0, 0, time.monotonic() - started, complete=False)
    try:
        result = _ship(
            paths,
            producer,
            parser,
            source,
            max_line_bytes,
            settings,
            progress,
            stop,
            metrics,
            health,
            started,
            rejects or Rejects(None, file_place),
        )
    finally:
        producer.close(timeout=5.0)
    return replace(result, cpu_seconds=round(time.process_time() - cpu_started, 2))


def _ship(
    paths: list[str],
    producer: Producer,
    parser: Parser,
    source: str,
    max_line_bytes: int,
    settings: PipelineSettings,
    progress: bool,
    stop: StopSignal,
    metrics: Metrics,
    health: KafkaHealth,
    started: float,
    rejects: Rejects,
) -> ShipResult:
    pipeline = Pipeline(
        producer,
        parser,
        source.encode("utf-8"),
        settings,
        metrics,
        health,
        _ignore,
        rejects=rejects,
    )
    sources = [SourceFile(p) for p in paths]
    display = Progress(sum(s.size for s in sources)) if progress else None
    done_before = 0
    try:
        for src in sources:
            lines = read_lines_with_ids(src.stream, max_line_bytes)
            submit = pipeline.submit
            name = str(src.path)  # the token: where a rejected line came from
            exhausted = False
            while not exhausted and not stop.event.is_set():
                room = pipeline.room()
                if room <= 0:
                    pipeline.pump()
                    stop.event.wait(0.002)
                    continue
                want = min(room, settings.chunk)
                got = 0
                for data, truncated, line_id in islice(lines, want):
                    submit(data, truncated, name, line_id, name)
                    got += 1
                exhausted = got < want
                pipeline.pump()
                if display:
                    display.update(pipeline.read, done_before + src.position())
            done_before += src.size
            src.close()
            if stop.event.is_set():
                break
        complete = pipeline.wait_all_acked(None, stop.event) and not stop.event.is_set()
    finally:
        for src in sources:
            src.close()
        if display:
            display.update(pipeline.read, done_before, force=True)
            display.finish()
    pipeline.publish_metrics()
    return ShipResult(
        lines=pipeline.read,
        parse_errors=pipeline.parse_errors,
        failed_sends=pipeline.failed,
        seconds=time.monotonic() - started,
        complete=complete,
        rejected=pipeline.rejected,
        cut=pipeline.cut,
    )


def _ignore(_token: object) -> None:
    return None


def run_ship(paths: list[str], opts: dict[str, Any]) -> int:
    """``logs2kafka ship``: 0 when Kafka acknowledged every line, 1 otherwise."""
    parser, source, factory = shipping_parts(opts, apache_config(opts))
    try:
        for path in paths:
            SourceFile(path).close()  # readable, before anything is sent
    except (ValueError, OSError) as exc:
        raise SetupError(str(exc)) from exc
    state_dir = Path(opts["state_dir"]) if opts.get("state_dir") else default_state_dir()
    rejects = Rejects(None if opts.get("dry_run") else state_dir, file_place)
    stop = StopSignal().install()
    try:
        result = ship(
            list(paths),
            factory,
            parser,
            source,
            max_line_bytes=opts["max_line_bytes"],
            settings=pipeline_settings(opts),
            progress=sys.stderr.isatty() and not opts.get("dry_run"),
            stop=stop,
            rejects=rejects,
        )
    except KafkaAccessDenied as exc:
        log.error("kafka refused the connection", extra={"reason": str(exc)})
        raise SetupError(str(exc)) from exc
    finally:
        stop.restore()
    if opts.get("dry_run"):
        sys.stdout.flush()
    log.info(
        "shipped" if result.complete else "stopped before every line was acknowledged",
        extra=asdict(result),
    )
    sys.stderr.write(result.summary() + "\n")
    return 0 if result.complete else 1

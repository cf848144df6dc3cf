"""The shipping core shared by ``logs2kafka tail`` and ``ship``: lines in, Kafka
acknowledgements out.

- Nothing lost: a line's token is handed back (``on_acked``) only after Kafka
  acknowledged it with ``acks=all``; a line the client gave up on is sent again,
  never dropped.
- Bounded memory: at most ``max_pending`` lines are between the reader and Kafka's
  acknowledgement; when Kafka is down or slow, ``room()`` is 0 and reading pauses.
- One thread: acknowledgements are collected by the producer's ``poll`` on the
  caller's thread (a deque would also accept them from another thread: append and
  popleft are atomic) and handed on by ``pump`` only.
- Quiet outages: "kafka unreachable" and "kafka reachable again" are each logged once
  per change, never once per line (``logpipe.logs2kafka.health``).
- Every message fits: an envelope over the topic's limit (learned by the producer from
  the broker) is sent with its line cut and flagged (``logpipe.logs2kafka.fit``); the
  check is one length comparison on the encoded bytes.
- Errors sorted once (``logpipe.kafka.errors.classify``): RETRIABLE is sent again after a
  jittered backoff; RECORD (refused for good) goes to the reject file, is counted and
  then counts as delivered, so the checkpoint moves on; FATAL raises KafkaAccessDenied.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Protocol

from logpipe.config import settings as S
from logpipe.envelope import LogEntry, encode
from logpipe.formats.fast_envelope import Envelope
from logpipe.kafka import (
    ErrorClass,
    KafkaAccessDenied,
    KafkaUnavailable,
    Producer,
    RecordRefused,
    classify,
    value_limit,
)
from logpipe.logs2kafka.fit import fit
from logpipe.logs2kafka.health import KafkaHealth
from logpipe.logs2kafka.line_times import LineTimes, Lookback
from logpipe.logs2kafka.metrics import Metrics
from logpipe.logs2kafka.rejects import Rejects
from logpipe.retry import Backoff


class Parser(Protocol):
    """What the pipeline needs from ``logpipe.formats.LineParser``."""

    #: The encoded envelope and datetime of a line, straight from its bytes, or None when
    #: ``parse`` must do it (``logpipe.formats.fast_envelope``).
    envelope: Envelope

    def parse(self, line: bytes, truncated: bool = False, read_time: Any = None) -> LogEntry: ...


@dataclass(frozen=True)
class Route:
    """How the lines of one file are parsed and keyed when files differ (each log file an
    Apache configuration declares has its own format and source)."""

    parser: Parser
    key: bytes


@dataclass(frozen=True)
class PipelineSettings:
    """How much may be in flight and when Kafka counts as unreachable."""

    #: Lines read but not yet acknowledged by Kafka; reading pauses at this bound. Each
    #: costs about 1.5 kB (the line, the client's record and its future): 10,000 keep
    #: the peak RSS under 80 MB with either client, and are a third of a second of
    #: shipping at full speed, plenty to keep the client's batches full.
    max_pending: int = S.MAX_PENDING.default
    #: Lines taken from the tailer per poll.
    chunk: int = 2_000
    #: Lines pending with no acknowledgement for this long: Kafka is unreachable.
    stall_after: float = 10.0
    #: /healthz fails when the shipping loop has not turned for this long.
    unhealthy_after: float = S.UNHEALTHY_AFTER.default
    #: Wait between polls when the files have nothing new.
    idle_sleep: float = 0.1
    #: Wait between polls when the pending bound is reached.
    full_sleep: float = 0.01
    #: Seconds allowed for a clean stop (flush + checkpoint) after SIGTERM/SIGINT.
    shutdown_timeout: float = S.SHUTDOWN_TIMEOUT.default


#: A line on its way: raw bytes, cut at max_line_bytes?, the caller's token, its id, its
#: stream (the file it comes from), and once it was parsed and did not parse, the time it
#: was given (a line sent again keeps it); then its Route (None: the pipeline's own).
_Record = list[Any]


class Pipeline:
    """Raw lines in, acknowledged tokens out: parse, encode, produce, re-send, count.

    ``submit`` takes one line and an opaque token (the tailer's Line, or None);
    ``pump`` hands the tokens of acknowledged lines to ``on_acked`` and re-sends lines
    the client failed. Called from one thread only. A line refused for good goes to
    ``rejects`` and its token to ``on_acked`` like a delivered one.
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
        *,
        rejects: Rejects | None = None,
        lookback: Lookback | None = None,
        routes: tuple[Route, ...] = (),
    ) -> None:
        self._producer = producer
        self._parse = parser.parse
        self._envelope = parser.envelope
        self._times = LineTimes(lookback)
        self._key = key
        self._settings = settings
        self._metrics = metrics
        self._health = health
        self._on_acked = on_acked
        self._acks: deque[tuple[BaseException | None, _Record]] = deque()
        self._ack_callback = self._on_ack  # one bound method for every record
        self._retry: deque[_Record] = deque()
        self._next_retry = 0.0
        self._backoff = Backoff(base=0.5, cap=5.0)
        self._rejects = rejects or Rejects(None)
        #: The largest message value the topic takes with this key (the longest of the
        #: routes' keys: one bound for every line).
        longest = max((key, *(route.key for route in routes)), key=len)
        self.max_value_bytes = value_limit(producer.max_message_bytes, longest)
        #: The first error fatal to the stream (then nothing is waited on any more).
        self.fatal: BaseException | None = None
        self._last_progress = time.monotonic()
        self.pending = 0
        self.read = 0
        self.shipped = 0
        self.failed = 0
        self.parse_errors = 0
        self.rejected = 0
        self.cut = 0
        self._published = (0, 0, 0, 0, 0)

    def room(self) -> int:
        """How many more lines may be read now (0 while Kafka is behind or down)."""
        if self._retry:
            return 0
        return self._settings.max_pending - self.pending

    def submit(
        self,
        data: bytes,
        truncated: bool,
        token: Any,
        line_id: str | None = None,
        stream: Hashable = None,
        route: Route | None = None,
    ) -> None:
        """Parse, encode and produce one line; ``token`` comes back through ``on_acked``.

        ``line_id`` (the envelope's ``id``, see ``logs2kafka.line_ids``) goes with the line
        each time it is sent, so a line sent twice is stored once. ``stream`` names the
        file the line comes from (lines of one stream are submitted in file order): a
        line that does not parse takes the time of the parsed line before it there
        (``logs2kafka.line_times``). ``route``: the parser and key of the line's file,
        when they are not the pipeline's own.
        """
        self.read += 1
        if self.pending == 0:
            self._last_progress = time.monotonic()
        self.pending += 1
        record = [data, truncated, token, line_id, stream, None, route]
        if self._retry:  # keep the order behind lines waiting to be sent again
            self._retry.append(record)
            return
        found = (
            None
            if truncated
            else (self._envelope if route is None else route.parser.envelope)(data, line_id)
        )
        value: bytes | None
        if found is not None and len(found[0]) <= self.max_value_bytes:
            # the common line: parsed and encoded in one compiled call
            value, when = found
            record[5] = when
            self._times.parsed(stream, when, line_id)
        else:
            value = self._message(record)
        if not self._produce(value, record):
            self._retry.append(record)

    def _message(self, record: _Record) -> bytes | None:
        """The message of a line through the Python parser, cut to the topic's limit
        when over it (None: not even an empty line fits)."""
        entry = self._entry(record)
        value = encode(entry)
        return value if len(value) <= self.max_value_bytes else self._cut(entry)

    def _entry(self, record: _Record) -> LogEntry:
        """The envelope of a line. The first time: the line's time is noted (parsed) or
        given (not parsed, counted); a line sent again gets the time it had."""
        route = record[6]
        parse = self._parse if route is None else route.parser.parse
        entry = parse(record[0], record[1])
        entry.line_id = record[3]
        when = record[5]
        if when is not None:
            entry.datetime = when
        elif entry.parse_error is None:
            self._times.parsed(record[4], entry.datetime, entry.line_id)
            record[5] = entry.datetime
        else:
            self.parse_errors += 1
            self._times.unparsed(record[4], entry, record[2], parse)
            record[5] = entry.datetime
        return entry

    def _cut(self, entry: LogEntry) -> bytes | None:
        """The message of ``entry``, over the topic's limit, cut to fit it; None when even
        an empty line would not fit. (The common case, a message that fits, costs only the
        length comparison before the call.)"""
        self.cut += 1
        return fit(entry, self.max_value_bytes)

    def _produce(self, value: bytes | None, record: _Record) -> bool:
        # The callback keeps the raw line, not the envelope: the line is smaller, and the
        # encoder's output buffers are over-allocated (kilobytes each), which would
        # multiply the memory held by max_pending lines. A failed line is encoded again.
        # A refusal at send joins the acknowledgements, so pump alone decides what it means.
        try:
            if value is None:
                raise RecordRefused(
                    "too_large", f"no line fits in {self.max_value_bytes} bytes with the rest"
                )
            route = record[6]
            key = self._key if route is None else route.key
            self._producer.send(key, value, self._ack_callback, record)
        except KafkaUnavailable as exc:
            self._health.unreachable(str(exc))
            self._next_retry = time.monotonic() + self._backoff.next()
            return False
        except RecordRefused as exc:
            self._acks.append((exc, record))
        except KafkaAccessDenied as exc:
            self.fatal = self.fatal or exc
            raise
        return True

    def _on_ack(self, exc: BaseException | None, record: _Record) -> None:
        self._acks.append((exc, record))

    def pump(self) -> int:
        """Handle the acknowledgements that arrived; re-send failures. Returns lines acked."""
        self._producer.poll(0)
        acks = self._acks
        on_acked = self._on_acked
        done = 0
        rejected = 0
        failed = 0
        error: BaseException | None = None
        fatal: BaseException | None = None
        while acks:
            exc, record = acks.popleft()
            if exc is None:
                done += 1
                on_acked(record[2])
                continue
            kind, reason = classify(exc)
            if kind is ErrorClass.RECORD:
                rejected += 1
                self._reject(record, reason, exc)
                on_acked(record[2])
            elif kind is ErrorClass.FATAL:
                fatal = fatal or exc  # the line stays pending: it was not delivered
            else:
                failed += 1
                error = exc
                self._retry.append(record)
        now = time.monotonic()
        if done or rejected:  # Kafka answered
            self.pending -= done + rejected
            self.shipped += done
            self.rejected += rejected
            self._last_progress = now
            self._health.reachable()
            self._backoff.reset()
        if failed:
            self.failed += failed
            self._health.unreachable(f"send failed: {error}")
            self._next_retry = now + self._backoff.next()
        elif self.pending and now - self._last_progress > self._settings.stall_after:
            self._health.unreachable(
                f"no acknowledgement for {self._settings.stall_after:.0f} s "
                f"with {self.pending} lines pending"
            )
        if fatal is not None and self.fatal is None:
            self.fatal = fatal
            raise KafkaAccessDenied(f"Kafka refused to take records: {fatal}") from fatal
        if self._retry and now >= self._next_retry and self.fatal is None:
            self._resend()
        return done

    def _reject(self, record: _Record, reason: str, exc: BaseException) -> None:
        self._rejects.write(record[0], reason, str(exc), record[2])
        self._metrics.lines_rejected.labels(reason=reason).inc()

    def _resend(self) -> None:
        """Send the waiting lines again, oldest first; stop at the first refusal."""
        retry = self._retry
        while retry:
            record = retry[0]
            if not self._produce(self._message(record), record):
                return
            retry.popleft()

    def publish_metrics(self) -> None:
        """Copy the plain counters into Prometheus (cheaper than per-line increments)."""
        now = (self.read, self.shipped, self.failed, self.parse_errors, self.cut)
        before = self._published
        m = self._metrics
        for counter, new, old in zip(
            (m.lines_read, m.lines_shipped, m.lines_failed, m.parse_errors, m.lines_cut),
            now,
            before,
            strict=True,
        ):
            if new > old:
                counter.inc(new - old)
        self._published = now
        m.pending.set(self.pending)

    def wait_all_acked(self, deadline: float | None, stop: threading.Event | None = None) -> bool:
        """Pump until nothing is pending, ``deadline`` (monotonic) passes or ``stop`` is set.

        False at once after an error fatal to the stream: what is pending will not go.
        """
        while self.pending:
            if self.fatal is not None:
                return False
            self.pump()
            if not self.pending:
                break
            if deadline is not None and time.monotonic() >= deadline:
                return False
            if stop is not None and stop.is_set():
                return False
            time.sleep(0.005)
        return True

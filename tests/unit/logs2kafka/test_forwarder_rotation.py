"""``logs2kafka tail`` while Kafka takes nothing (``room() == 0``): files still followed.

Real files and a real Tailer; the producer is an in-memory fake that keeps every send
unacknowledged until the test lets them through (the broker outage is exercised against
a real broker in tests/integration/logs2kafka/test_rotation_outage.py).
"""

from __future__ import annotations

import gzip
import os
import shutil
import threading
import time

from logpipe.envelope import LogEntry
from logpipe.formats import fast_envelope
from logpipe.logs2kafka.metrics import Metrics
from logpipe.logs2kafka.pipeline import PipelineSettings
from logpipe.logs2kafka.tail import Tailer
from logpipe.logs2kafka.tail_command import Forwarder
from tests.support.fake_producer import FakeProducer
from tests.support.tailkit import make_tailer, seq_line

MAX_PENDING = 50


class Parser:
    envelope = staticmethod(fast_envelope.none)  # the Python path only

    def parse(self, line, truncated=False, read_time=None):
        return LogEntry("h", "www_access", "2026-01-01T00:00:00+00:00", line.decode(), fields={})


def lines(a: int, b: int) -> bytes:
    return b"".join(seq_line(n) for n in range(a, b))


def append(path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


def rotate(log) -> None:
    """Debian: ``.1`` compressed to ``.2.gz``, the log renamed to ``.1``, a new log."""
    first = log.with_name(log.name + ".1")
    if first.exists():
        with open(first, "rb") as src, gzip.open(log.with_name(log.name + ".2.gz"), "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.unlink(first)
    os.rename(log, first)
    log.touch()


def wait(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels or None)


def start_forwarder(tailer: Tailer) -> tuple[FakeProducer, Metrics, Forwarder, threading.Thread]:
    """A Forwarder of ``tailer`` running in a thread, its producer holding every send
    until the test completes it (Kafka down: the pending bound fills)."""
    producer = FakeProducer(max_message_bytes=1_000_000)
    metrics = Metrics()
    settings = PipelineSettings(max_pending=MAX_PENDING, idle_sleep=0.02, shutdown_timeout=1.0)
    forwarder = Forwarder(tailer, lambda: producer, Parser(), "h", settings, metrics)
    runner = threading.Thread(target=forwarder.run, daemon=True)
    runner.start()
    return producer, metrics, forwarder, runner


def test_two_rotations_while_the_pending_bound_is_full(tmp_path):
    log = tmp_path / "logs" / "access.log"
    log.parent.mkdir()
    log.write_bytes(lines(0, 100))
    tailer = make_tailer(str(log), tmp_path / "state", from_beginning=True)
    producer, metrics, forwarder, runner = start_forwarder(tailer)
    try:
        wait(lambda: len(producer.sent) == MAX_PENDING)  # room() == 0 from here
        rotate(log)
        append(log, lines(100, 200))
        time.sleep(0.2)
        rotate(log)  # the first file is now only access.log.2.gz
        append(log, lines(200, 300))
        time.sleep(0.2)
        assert len(producer.sent) == MAX_PENDING
        forwarder._publish_file_metrics()
        # Lines 0-49 are out (unacknowledged), the rest of the first file (and its
        # unfinished read) plus two files are unread.
        first_rest = len(lines(0, 100)) - len(lines(0, MAX_PENDING))
        unread = sample(metrics, "logs2kafka_bytes_unread", path=str(log))
        assert unread == first_rest + len(lines(100, 300))
        assert sample(metrics, "logs2kafka_bytes_lost_total") == 0

        def drained() -> bool:
            producer.complete()
            return len(producer.delivered) >= 300

        wait(drained)  # Kafka is back
    finally:
        forwarder.stop()
        runner.join(10)
    assert producer.delivered == [seq_line(n)[:-1].decode() for n in range(300)]


def test_bytes_lost_are_counted(tmp_path):
    log = tmp_path / "logs" / "access.log"
    log.parent.mkdir()
    log.write_bytes(lines(0, 100))
    # Read a little at a time, so what is not taken stays in the file, not in memory.
    tailer = make_tailer(str(log), tmp_path / "state", from_beginning=True, chunk_bytes=256)
    producer, metrics, forwarder, runner = start_forwarder(tailer)
    try:
        wait(lambda: len(producer.sent) == MAX_PENDING)
        (status,) = tailer.files()
        lost = status.size - status.read_offset
        assert lost > 0
        os.truncate(log, 0)  # ``> access.log``, no copy: what was not read is gone
        wait(lambda: tailer.lost_bytes > 0)
        forwarder._publish_file_metrics()
        assert sample(metrics, "logs2kafka_bytes_lost_total") == lost
        (status,) = tailer.files()
        assert status.bytes_unread == 0
    finally:
        forwarder.stop()
        runner.join(10)

"""logs2kafka's /healthz measures the process (its loop turning), /readyz its dependencies:
Kafka down keeps it alive and not ready; a stuck loop is not alive.

Real files and a real Tailer; the producer is the in-memory fake (the outage against a
real broker is tests/integration/logs2kafka/test_outage.py).
"""

from __future__ import annotations

import threading
import time

from logpipe.envelope import LogEntry
from logpipe.formats import fast_envelope
from logpipe.kafka import KafkaUnavailable
from logpipe.logs2kafka.metrics import Metrics
from logpipe.logs2kafka.pipeline import PipelineSettings
from logpipe.logs2kafka.tail_command import Forwarder
from tests.support.fake_producer import FakeProducer
from tests.support.tailkit import make_tailer

UNHEALTHY_AFTER = 0.5


class BlockingParser:
    """Parses until ``block`` is set, then stops the loop there (a stuck process)."""

    envelope = staticmethod(fast_envelope.none)  # the Python path only

    def __init__(self) -> None:
        self.block = threading.Event()
        self.release = threading.Event()

    def parse(self, line, truncated=False, read_time=None):
        if self.block.is_set():
            self.release.wait(10)
        return LogEntry("h", "www_access", "2026-01-01T00:00:00+00:00", line.decode(), fields={})


def wait(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def start(tmp_path, connect, parser) -> tuple[Forwarder, threading.Thread]:
    log = tmp_path / "access.log"
    log.write_bytes(b"first\n")
    tailer = make_tailer(str(log), tmp_path / "state", from_beginning=True)
    settings = PipelineSettings(
        idle_sleep=0.02, shutdown_timeout=1.0, unhealthy_after=UNHEALTHY_AFTER
    )
    forwarder = Forwarder(tailer, connect, parser, "h", settings, Metrics())
    runner = threading.Thread(target=forwarder.run, daemon=True)
    runner.start()
    return forwarder, runner


def test_kafka_unreachable_at_start_is_not_ready_but_alive(tmp_path, monkeypatch) -> None:
    from logpipe.logs2kafka import tail_command

    # attempts every 0.1 s instead of 2 s, to stay under this test's short unhealthy_after
    monkeypatch.setattr(tail_command, "connect", _fast_connect(tail_command.connect))

    def unreachable():
        raise KafkaUnavailable("no broker answers")

    forwarder, runner = start(tmp_path, unreachable, BlockingParser())
    try:
        time.sleep(UNHEALTHY_AFTER * 3)
        assert forwarder.live()
        assert not forwarder.ready()
    finally:
        forwarder.stop()
        runner.join(10)


def _fast_connect(connect):
    def fast(factory, health, stop, retry_every=2.0):
        return connect(factory, health, stop, retry_every=0.1)

    return fast


def test_kafka_down_while_shipping_is_not_ready_but_alive(tmp_path) -> None:
    producer = FakeProducer()
    forwarder, runner = start(tmp_path, lambda: producer, BlockingParser())
    try:
        wait(lambda: len(producer.sent) == 1)
        producer.complete()
        wait(forwarder.ready)
        producer.down = True  # every send fails from now on
        (tmp_path / "access.log").open("ab").write(b"second\n")
        wait(lambda: not forwarder.ready())
        time.sleep(UNHEALTHY_AFTER * 3)
        assert forwarder.live()
        assert not forwarder.ready()
    finally:
        forwarder.stop()
        runner.join(10)


def test_a_stuck_loop_is_not_alive(tmp_path) -> None:
    producer = FakeProducer()
    parser = BlockingParser()
    forwarder, runner = start(tmp_path, lambda: producer, parser)
    try:
        wait(lambda: len(producer.sent) == 1)
        assert forwarder.live()
        parser.block.set()
        (tmp_path / "access.log").open("ab").write(b"stuck here\n")
        wait(lambda: not forwarder.live(), timeout=5)
        parser.release.set()
        wait(forwarder.live)
    finally:
        parser.release.set()
        forwarder.stop()
        runner.join(10)

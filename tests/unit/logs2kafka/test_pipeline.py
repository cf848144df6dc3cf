"""The pipeline's bookkeeping: acks to tokens, re-sends, the pending bound, outage logs.

The producer and the parser here are in-memory fakes: what is tested is the pure logic
between them (the real Kafka is exercised by tests/integration/test_forwarder_*.py).
"""

from __future__ import annotations

import functools
import logging

from logpipe.envelope import LogEntry, decode
from logpipe.kafka import NO_TOKEN, KafkaUnavailable
from logpipe.logs2kafka.health import KafkaHealth
from logpipe.logs2kafka.metrics import Metrics
from logpipe.logs2kafka.pipeline import Pipeline, PipelineSettings


class FakeParser:
    def parse(self, line, truncated=False, read_time=None):
        text = line.decode("utf-8", "backslashreplace")
        if text.startswith("bad"):
            return LogEntry("h", "www_access", "2026-01-01T00:00:00+00:00", text, parse_error="x")
        return LogEntry("h", "www_access", "2026-01-01T00:00:00+00:00", text, fields={})


class FakeProducer:
    """Keeps the callbacks so a test decides when (and how) each send completes."""

    topic = "t"

    def __init__(self):
        self.sent = []  # (value, on_ack)
        self.down = False

    def send(self, key, value, on_ack, token=NO_TOKEN):
        if self.down:
            raise KafkaUnavailable("metadata timeout")
        if token is not NO_TOKEN:
            on_ack = functools.partial(lambda cb, t, error: cb(error, t), on_ack, token)
        self.sent.append((value, on_ack))

    def poll(self, timeout=0.0):
        return None

    def flush(self, timeout=None):
        return True

    def close(self, timeout=5.0):
        return None

    def complete(self, error=None):
        sent, self.sent = self.sent, []
        for _value, on_ack in sent:
            on_ack(error)
        return [decode(v).log for v, _ in sent]


def make(max_pending=10, stall_after=10.0):
    acked = []
    producer = FakeProducer()
    metrics = Metrics()
    settings = PipelineSettings(max_pending=max_pending, stall_after=stall_after)
    health = KafkaHealth(metrics, unhealthy_after=60)
    pipeline = Pipeline(producer, FakeParser(), b"h", settings, metrics, health, acked.append)
    return pipeline, producer, acked, health


def test_acks_hand_tokens_back_and_free_room():
    pipeline, producer, acked, _ = make(max_pending=3)
    for i in range(3):
        pipeline.submit(f"line {i}".encode(), False, i)
    assert pipeline.room() == 0
    producer.complete()
    assert pipeline.pump() == 3
    assert acked == [0, 1, 2]
    assert pipeline.pending == 0 and pipeline.room() == 3


def test_failed_sends_are_sent_again_in_order_never_dropped():
    pipeline, producer, acked, health = make()
    for i in range(4):
        pipeline.submit(f"line {i}".encode(), False, i)
    producer.complete(error=RuntimeError("delivery timeout"))
    pipeline.pump()
    assert acked == []
    assert pipeline.failed == 4
    assert not health.is_reachable()
    assert [v for v in producer.complete()] == [f"line {i}" for i in range(4)]
    pipeline.pump()
    assert acked == [0, 1, 2, 3]
    assert health.is_reachable()


def test_unavailable_kafka_pauses_reading_and_keeps_lines(monkeypatch):
    pipeline, producer, acked, health = make()
    producer.down = True
    pipeline.submit(b"a", False, "a")
    pipeline.submit(b"b", False, "b")  # queued behind "a", keeps the order
    assert pipeline.room() == 0
    assert not health.is_reachable()
    producer.down = False
    monkeypatch.setattr(pipeline, "_next_retry", 0.0)
    pipeline.pump()  # re-sends
    assert producer.complete() == ["a", "b"]
    pipeline.pump()
    assert acked == ["a", "b"]
    assert pipeline.room() == 10


def test_outage_is_logged_once_not_per_line(caplog):
    pipeline, producer, _acked, _ = make(max_pending=1000)
    with caplog.at_level(logging.INFO, logger="logpipe"):
        for round_ in range(3):
            for i in range(50):
                pipeline.submit(f"{round_}-{i}".encode(), False, i)
            producer.complete(error=RuntimeError("broker gone"))
            pipeline.pump()
        producer.complete()
        pipeline.pump()
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("kafka unreachable") == 1
    assert messages.count("kafka reachable again") == 1


def test_stall_without_acks_marks_kafka_unreachable():
    pipeline, _producer, _acked, health = make(stall_after=0.0)
    pipeline.submit(b"x", False, None)
    pipeline.pump()
    assert not health.is_reachable()
    assert health.is_healthy()  # not yet past unhealthy_after
    health.unhealthy_after = 0.0
    health.unreachable_since -= 1
    assert not health.is_healthy()


def test_parse_errors_counted_and_metrics_published():
    pipeline, producer, _acked, _ = make()
    pipeline.submit(b"bad line", False, None)
    pipeline.submit(b"good line", False, None)
    producer.complete()
    pipeline.pump()
    pipeline.publish_metrics()
    registry = pipeline._metrics.registry
    assert registry.get_sample_value("logs2kafka_parse_errors_total") == 1
    assert registry.get_sample_value("logs2kafka_lines_shipped_total") == 2
    assert registry.get_sample_value("logs2kafka_lines_read_total") == 2
    assert registry.get_sample_value("logs2kafka_pending_lines") == 0


def test_the_line_id_goes_with_the_line_each_time_it_is_sent(monkeypatch):
    pipeline, producer, _acked, _ = make()
    pipeline.submit(b"a", False, "a", "0123456789abcdef:0")
    pipeline.submit(b"b", False, "b")  # ship of a stream without ids, or an older caller
    first = [decode(value) for value, _ in producer.sent]
    producer.complete(error=RuntimeError("broker gone"))
    pipeline.pump()
    monkeypatch.setattr(pipeline, "_next_retry", 0.0)
    pipeline.pump()  # re-sends
    again = [decode(value) for value, _ in producer.sent]
    assert [e.line_id for e in first] == [e.line_id for e in again] == ["0123456789abcdef:0", None]

"""The pipeline's bookkeeping: acks to tokens, re-sends, the pending bound, outage logs,
and what each class of error does (re-send after a backoff, reject, stop), cutting to fit.

The producer and the parser here are in-memory fakes: what is tested is the pure logic
between them (the real Kafka is exercised by tests/integration/test_forwarder_*.py).
"""

from __future__ import annotations

import logging
import time

import orjson
import pytest

from logpipe.envelope import LogEntry, decode, encode
from logpipe.formats import LineParser, fast_envelope
from logpipe.kafka import KafkaAccessDenied, RecordRefused
from logpipe.kafka.producer import RECORD_OVERHEAD
from logpipe.logs2kafka.fit import CUT_REASON
from logpipe.logs2kafka.health import KafkaHealth
from logpipe.logs2kafka.metrics import Metrics
from logpipe.logs2kafka.pipeline import Pipeline, PipelineSettings
from logpipe.logs2kafka.rejects import Rejects
from tests.support.fake_producer import FakeProducer


class FakeParser:
    envelope = staticmethod(fast_envelope.none)  # the Python path only

    def parse(self, line, truncated=False, read_time=None):
        text = line.decode("utf-8", "backslashreplace")
        if text.startswith("bad"):
            return LogEntry("h", "www_access", "2026-01-01T00:00:00+00:00", text, parse_error="x")
        return LogEntry("h", "www_access", "2026-01-01T00:00:00+00:00", text, fields={})


def make(max_pending=10, stall_after=10.0, rejects=None, max_message_bytes=1_048_576):
    acked = []
    producer = FakeProducer(max_message_bytes)
    metrics = Metrics()
    settings = PipelineSettings(max_pending=max_pending, stall_after=stall_after)
    health = KafkaHealth(metrics)
    pipeline = Pipeline(
        producer, FakeParser(), b"h", settings, metrics, health, acked.append, rejects=rejects
    )
    return pipeline, producer, acked, health


def due(pipeline):
    """Let the backoff before the next re-send pass (tests do not wait for it)."""
    pipeline._next_retry = 0.0


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
    assert producer.sent == []  # not at once: after a backoff
    due(pipeline)
    pipeline.pump()
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
            due(pipeline)
        pipeline.pump()  # the re-send
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


# --- errors sorted once: a record refused for good, a fatal refusal, an oversized line ---


def test_record_refused_for_good_is_rejected_counted_and_acknowledged(tmp_path):
    from kafka.errors import MessageSizeTooLargeError

    rejects = Rejects(tmp_path, lambda token: (f"/logs/{token}", 100))
    pipeline, producer, acked, health = make(rejects=rejects)
    for i in range(3):
        pipeline.submit(f"line {i}".encode(), False, i)
    sent, producer.sent = producer.sent, []
    sent[0][1](None)
    sent[1][1](MessageSizeTooLargeError("over the topic's max.message.bytes"))
    sent[2][1](None)
    pipeline.pump()
    assert acked == [0, 1, 2]  # the refused line is accounted for: its checkpoint moves
    assert pipeline.pending == 0 and pipeline.rejected == 1 and pipeline.failed == 0
    assert producer.sent == [] and pipeline.room() == 10  # never sent again
    assert health.is_reachable()  # Kafka answered: no "kafka unreachable"
    (record,) = [orjson.loads(x) for x in (tmp_path / "rejects.jsonl").read_bytes().splitlines()]
    assert record["reason"] == "message_too_large"
    assert (record["path"], record["end_offset"], record["line"]) == ("/logs/1", 100, "line 1")
    registry = pipeline._metrics.registry
    sample = registry.get_sample_value(
        "logs2kafka_lines_rejected_total", {"reason": "message_too_large"}
    )
    assert sample == 1


def test_refusal_while_queueing_is_rejected_too(tmp_path):
    pipeline, producer, acked, _ = make(rejects=Rejects(tmp_path))
    producer.refuse = RecordRefused("message_too_large", "client limit")
    pipeline.submit(b"big", False, "a")
    producer.refuse = None
    pipeline.submit(b"next", False, "b")
    producer.complete()
    pipeline.pump()
    assert acked == ["a", "b"] and pipeline.rejected == 1
    assert b'"line":"big"' in (tmp_path / "rejects.jsonl").read_bytes()


def test_fatal_refusal_raises_once_and_stops_the_waiting():
    from kafka.errors import TopicAuthorizationFailedError

    pipeline, producer, acked, _ = make()
    pipeline.submit(b"a", False, "a")
    pipeline.submit(b"b", False, "b")
    sent, producer.sent = producer.sent, []
    sent[0][1](None)
    sent[1][1](TopicAuthorizationFailedError("not allowed"))
    with pytest.raises(KafkaAccessDenied, match="not allowed"):
        pipeline.pump()
    assert acked == ["a"]  # what was delivered before still counts
    assert pipeline.pending == 1  # the refused line is not delivered, not rejected
    assert pipeline.wait_all_acked(None) is False  # at once, not forever
    pipeline.pump()  # the stop path pumps again: no second raise


def test_retriable_failures_back_off_and_keep_health_until_the_bound():
    pipeline, producer, _acked, health = make()
    pipeline.submit(b"a", False, "a")
    waits = []
    for _ in range(4):
        producer.complete(error=RuntimeError("timed out"))
        pipeline.pump()
        waits.append(pipeline._next_retry - time.monotonic())
        due(pipeline)
        pipeline.pump()  # the re-send
    assert waits[0] <= 0.5 and waits[-1] > 0.9  # growing, jittered
    assert not health.is_reachable()
    producer.complete()
    pipeline.pump()
    assert health.is_reachable() and pipeline._backoff.attempts == 0


def test_oversized_envelope_is_cut_to_fit_the_topic():
    pipeline, producer, acked, _ = make(max_message_bytes=2000)
    limit = pipeline.max_value_bytes
    assert limit == 2000 - RECORD_OVERHEAD - 1
    pipeline.submit(b"short line", False, "short")
    pipeline.submit(b"\x00" * 256 * 1024, False, "nul")
    pipeline.submit(b"\xff\xfe" * 128 * 1024, False, "bad utf-8")
    values = [value for value, _ in producer.sent]
    assert all(len(v) <= limit for v in values)
    short, nul, bad = (decode(v) for v in values)
    assert short.log == "short line" and not short.truncated and short.fields == {}
    assert nul.truncated and nul.parse_error == CUT_REASON and set(nul.log) == {"\x00"}
    assert bad.truncated and bad.log.startswith("\\xff\\xfe\\xff")
    assert len(values[1]) > limit - 10 and len(values[2]) > limit - 10  # as much as fits
    producer.complete()
    pipeline.pump()
    pipeline.publish_metrics()
    assert acked == ["short", "nul", "bad utf-8"]
    assert pipeline._metrics.registry.get_sample_value("logs2kafka_lines_cut_to_fit_total") == 2


def test_envelope_that_cannot_fit_at_all_is_rejected(tmp_path):
    pipeline, producer, acked, _ = make(rejects=Rejects(tmp_path), max_message_bytes=600)
    pipeline.submit(b"x" * 1000, False, "x")
    pipeline.pump()
    assert producer.sent == [] and acked == ["x"] and pipeline.rejected == 1


class ClockParser:
    """Lines ``t=<time>`` parse with that time; any other line takes a new read time
    each time it is parsed (a clock that moves between two sends)."""

    envelope = staticmethod(fast_envelope.none)  # the Python path only

    def __init__(self):
        self.reads = 0

    def parse(self, line, truncated=False, read_time=None):
        text = line.decode()
        if text.startswith("t="):
            return LogEntry("h", "www_access", text[2:], text, fields={})
        self.reads += 1
        return LogEntry("h", "www_access", f"read-{self.reads}", text, parse_error="x")


def test_unparsed_line_takes_the_time_before_it_and_keeps_it_when_sent_again():
    producer = FakeProducer()
    metrics = Metrics()
    health = KafkaHealth(metrics)
    pipeline = Pipeline(
        producer, ClockParser(), b"h", PipelineSettings(), metrics, health, lambda _: None
    )
    pipeline.submit(b"t=2026-01-01T00:00:01+00:00", False, 0, "abcdef01:0", "f")
    pipeline.submit(b"junk", False, 1, "abcdef01:28", "f")
    pipeline.submit(b"junk", False, 2, "abcdef01:33", "other file")  # no parsed line before it
    first = [decode(v) for v, _ in producer.sent]
    assert [e.datetime for e in first] == ["2026-01-01T00:00:01+00:00"] * 2 + ["read-2"]
    assert pipeline.parse_errors == 2
    producer.complete(error=RuntimeError("delivery timeout"))
    pipeline.pump()
    pipeline.submit(b"t=2026-01-01T00:00:09+00:00", False, 3, "abcdef01:38", "f")  # waits behind
    due(pipeline)
    pipeline.pump()
    again = [decode(v) for v, _ in producer.sent]
    assert [e.datetime for e in again] == [e.datetime for e in first] + [
        "2026-01-01T00:00:09+00:00"
    ]
    assert pipeline.parse_errors == 2  # a line sent again is not counted again


def test_lines_through_the_compiled_encoder_are_sent_and_sent_again_as_parsed_lines():
    """The real combined parser: a line its compiled encoder takes is sent as the Python
    path would send it, lends its time to an unparsed line after it, and is sent again
    the same after a failure; a line cut by the reader goes the Python way, flagged."""
    parser = LineParser("combined", source="www1")
    producer = FakeProducer()
    metrics = Metrics()
    pipeline = Pipeline(
        producer, parser, b"h", PipelineSettings(), metrics, KafkaHealth(metrics), lambda _: None
    )
    plain = b'192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5 "-" "ua"'
    assert parser.envelope(plain, "abcdef01:0") is not None
    pipeline.submit(plain, False, 0, "abcdef01:0", "f")
    pipeline.submit(b"junk", False, 1, "abcdef01:76", "f")
    pipeline.submit(plain, True, 2, "abcdef01:81", "f")
    sent = [v for v, _ in producer.sent]
    expected = [parser.parse(plain), parser.parse(b"junk"), parser.parse(plain, True)]
    for entry, line_id in zip(expected, ("abcdef01:0", "abcdef01:76", "abcdef01:81"), strict=True):
        entry.line_id = line_id
    expected[1].datetime = "2000-10-10T13:55:36-07:00"
    assert sent == [encode(e) for e in expected]
    producer.complete(error=RuntimeError("delivery timeout"))
    pipeline.pump()
    due(pipeline)
    pipeline.pump()
    assert [v for v, _ in producer.sent] == sent

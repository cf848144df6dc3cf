"""Records that cannot be stored go aside with headers, and count as done once acknowledged."""

from __future__ import annotations

from logpipe.envelope import LogEntry, encode
from logpipe.kafka import ConsumedRecord
from logpipe.kafka2cassandra.config import PollerConfig
from logpipe.kafka2cassandra.dead_letter import (
    DLQ_ERROR,
    DLQ_OFFSET,
    DLQ_PARTITION,
    DLQ_REASON,
    DLQ_TOPIC,
    MAX_REASON,
    DeadLetters,
    dead_letter_headers,
)
from logpipe.kafka2cassandra.delivery import Delivery
from logpipe.kafka2cassandra.metrics import PollerMetrics
from logpipe.kafka2cassandra.offsets import OffsetTracker
from logpipe.kafka2cassandra.rows import Item
from tests.unit.kafka2cassandra.fakes import RecordingDeadLetters, RecordingWriter

TP = ("t", 0)


def delivery_with(dead_letters):
    tracker = OffsetTracker()
    tracker.assign([TP])
    config = PollerConfig(tune_gc=False, retry_base=0.01, retry_cap=0.01)
    delivery = Delivery(config, RecordingWriter(), dead_letters, tracker, PollerMetrics())
    return delivery, tracker


def good(offset):
    entry = LogEntry("www1", "www_access", "2018-08-08T17:44:40+00:00", f"l{offset}", {})
    return ConsumedRecord("t", 0, offset, 0, b"www1", encode(entry))


def test_headers_follow_the_records_own():
    record = ConsumedRecord("t", 3, 42, 0, b"k", b"v", (("trace", b"1"),))
    headers = dead_letter_headers(record, "envelope", "bad")
    assert headers == [
        ("trace", b"1"),
        (DLQ_ERROR, b"envelope"),
        (DLQ_REASON, b"bad"),
        (DLQ_TOPIC, b"t"),
        (DLQ_PARTITION, b"3"),
        (DLQ_OFFSET, b"42"),
    ]


def test_poison_record_is_dead_lettered_and_committed_past():
    dead_letters = RecordingDeadLetters()
    delivery, tracker = delivery_with(dead_letters)
    poison = ConsumedRecord("t", 0, 1, 0, b"www1", b"x" * 10 + b"\xff")
    delivery.ingest([good(0), poison, good(2)])
    [(key, value, headers)] = dead_letters.sent
    assert (key, value) == (b"www1", poison.value)
    assert headers[DLQ_ERROR] == b"envelope" and headers[DLQ_OFFSET] == b"1"
    assert tracker.committable() == {TP: 3}
    assert delivery.metrics.dead_lettered.labels("envelope")._value.get() == 1


def test_long_reasons_are_cut_and_the_letter_counted_once_acknowledged():
    producer, stored = RecordingDeadLetters(), []
    metrics = PollerMetrics()
    dead_letters = DeadLetters(producer, "t.dlq", metrics, stored.append)
    item = Item(good(0), 1)
    dead_letters.send(item, "cassandra", "r" * 5000)
    assert len(producer.sent[0][2][DLQ_REASON]) == MAX_REASON
    assert stored == [item] and not dead_letters.failing
    assert metrics.dead_lettered.labels("cassandra")._value.get() == 1


def test_a_failed_dead_letter_holds_the_commit_and_is_retried():
    dead_letters = RecordingDeadLetters(fail=True)
    delivery, tracker = delivery_with(dead_letters)
    delivery.ingest([good(0), ConsumedRecord("t", 0, 1, 0, None, None), good(2)])
    delivery.turn(0.0)
    assert tracker.committable() == {TP: 1}
    # Only the letter's partition is held; the others are not paused for it.
    assert delivery.held == {TP} and not delivery.backlogged and not delivery.drained
    assert delivery.metrics.dead_letter_failures._value.get() == 1
    assert delivery.metrics.dead_letter_held._value.get() == 1
    dead_letters.fail = False
    delivery.turn(float("inf"))
    assert len(dead_letters.sent) == 2
    assert tracker.committable() == {TP: 3}
    delivery.turn(float("inf"))
    assert delivery.drained and delivery.held == set()
    assert delivery.metrics.dead_letter_held._value.get() == 0


def test_a_failing_letter_holds_its_partition_only_until_acknowledged():
    dead_letters = RecordingDeadLetters(fail=True)
    delivery, tracker = delivery_with(dead_letters)
    other = ("t", 1)
    tracker.assign([other])
    poison = ConsumedRecord("t", 0, 0, 0, None, b"not json")
    fine = ConsumedRecord("t", 1, 0, 0, b"www1", good(0).value)
    delivery.ingest([poison, fine])
    delivery.turn(0.0)
    assert delivery.held == {TP}
    assert tracker.committable() == {TP: 0, other: 1}
    delivery.turn(float("inf"))  # resent, refused again: still held
    assert len(dead_letters.sent) == 2 and delivery.held == {TP}


def test_a_letter_of_a_revoked_partition_is_not_retried():
    dead_letters = RecordingDeadLetters(fail=True)
    delivery, tracker = delivery_with(dead_letters)
    delivery.ingest([ConsumedRecord("t", 0, 0, 0, None, b"not json")])
    delivery.turn(0.0)
    tracker.forget([TP])
    delivery.turn(float("inf"))
    assert len(dead_letters.sent) == 1 and delivery.held == set()

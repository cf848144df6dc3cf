"""Write failures: outages are retried with backoff, refused rows are found and set aside."""

from __future__ import annotations

from logpipe.envelope import LogEntry, encode
from logpipe.kafka import ConsumedRecord
from logpipe.kafka2cassandra.config import PollerConfig
from logpipe.kafka2cassandra.dead_letter import DLQ_ERROR, DLQ_OFFSET
from logpipe.kafka2cassandra.delivery import Delivery
from logpipe.kafka2cassandra.metrics import PollerMetrics
from logpipe.kafka2cassandra.offsets import OffsetTracker
from tests.unit.kafka2cassandra.fakes import FlakyWriter, RecordingDeadLetters

TP = ("t", 0)


def records(count):
    out = []
    for offset in range(count):
        entry = LogEntry("www1", "www_access", "2018-08-08T17:44:40+00:00", f"l{offset}", {})
        out.append(ConsumedRecord("t", 0, offset, 0, b"www1", encode(entry)))
    return out


def delivery_with(writer, assigned=True):
    tracker = OffsetTracker()
    if assigned:
        tracker.assign([TP])
    dead_letters = RecordingDeadLetters()
    config = PollerConfig(batch_rows=4, tune_gc=False, retry_base=0.01, retry_cap=0.01)
    delivery = Delivery(config, writer, dead_letters, tracker, PollerMetrics(), lambda: {TP})
    return delivery, tracker, dead_letters


def test_an_outage_pauses_and_retries_until_writes_succeed():
    writer = FlakyWriter(errors=[TimeoutError("down")] * 2)
    delivery, tracker, _ = delivery_with(writer)
    delivery.ingest(records(8))
    delivery.turn(0.0)
    assert delivery.cassandra_failing and delivery.backlogged
    assert delivery.metrics.cassandra_up._value.get() == 0
    assert tracker.committable() == {TP: 0}
    delivery.turn(float("inf"))  # both requests resent, and written this time
    assert delivery.metrics.write_retries._value.get() == 2
    assert tracker.committable() == {TP: 8} and delivery.drained
    assert not delivery.cassandra_failing
    assert delivery.metrics.cassandra_up._value.get() == 1


def test_a_refused_row_is_found_and_dead_lettered_alone():
    writer = FlakyWriter(refused="l2")
    delivery, tracker, dead_letters = delivery_with(writer)
    delivery.ingest(records(4))
    delivery.turn(0.0)
    assert [len(rows) for rows in writer.requests] == [4, 1, 1, 1, 1]
    [(_, _, headers)] = dead_letters.sent
    assert headers[DLQ_ERROR] == b"cassandra" and headers[DLQ_OFFSET] == b"2"
    assert tracker.committable() == {TP: 4} and delivery.drained
    assert not delivery.cassandra_failing


def test_records_fetched_before_the_assignment_is_heard_of_are_tracked():
    delivery, tracker, _ = delivery_with(FlakyWriter(), assigned=False)
    delivery.ingest(records(3))
    assert tracker.committable() == {TP: 3}


def test_retries_of_a_partition_revoked_meanwhile_are_dropped():
    writer = FlakyWriter(errors=[TimeoutError("down")])
    delivery, tracker, _ = delivery_with(writer)
    delivery.ingest(records(2))
    delivery.turn(0.0)
    tracker.forget([TP])
    delivery.turn(float("inf"))
    assert len(writer.requests) == 1 and delivery.drained


def test_a_table_gone_pauses_everything_dead_letters_nothing_and_resumes_when_back():
    from cassandra import InvalidRequest

    gone = InvalidRequest('code=2200 [Invalid query] message="table logs does not exist"')
    writer = FlakyWriter(errors=[gone] * 3)
    delivery, tracker, dead_letters = delivery_with(writer)
    delivery.ingest(records(4))
    delivery.turn(0.0)
    assert delivery.backlogged and delivery.cassandra_failing
    assert delivery.metrics.schema_missing._value.get() == 1
    assert dead_letters.sent == [] and tracker.committable() == {TP: 0}
    delivery.turn(float("inf"))  # still gone
    delivery.turn(float("inf"))  # still gone
    assert dead_letters.sent == [] and tracker.committable() == {TP: 0}
    delivery.turn(float("inf"))  # back
    assert tracker.committable() == {TP: 4} and delivery.drained
    assert not delivery.cassandra_failing
    assert delivery.metrics.schema_missing._value.get() == 0

"""Records into rows (pure): decoding, event-mode log_id inputs, what cannot be stored."""

from __future__ import annotations

import pytest

from logpipe.cassandra import event_timeuuid, line_timeuuid
from logpipe.envelope import LogEntry, encode, parse_datetime
from logpipe.kafka import ConsumedRecord
from logpipe.kafka2cassandra.rows import Unstorable, build_row

WHEN = "2018-08-08T17:44:40+00:00"


def record(value, offset=7, timestamp_ms=1_533_750_280_123):
    return ConsumedRecord("t", 2, offset, timestamp_ms, b"www1", value)


def envelope(when=WHEN):
    return encode(LogEntry("www1", "www_access", when, "GET / 200", {}))


def test_now_mode_leaves_log_id_to_cassandra():
    row = build_row(record(envelope()), "now")
    assert (row.source, row.type, row.datetime, row.log) == (
        "www1",
        "www_access",
        WHEN,
        "GET / 200",
    )
    assert row.log_id is None and row.timestamp_us is None


def test_event_mode_derives_log_id_from_time_and_place_in_kafka():
    row = build_row(record(envelope()), "event")
    assert row.log_id == event_timeuuid(parse_datetime(WHEN), "t", 2, 7)
    assert row.timestamp_us == 1_533_750_280_123_000
    assert build_row(record(envelope()), "event") == row  # a replay makes the same row


def test_event_mode_without_broker_timestamp_uses_the_request_time():
    row = build_row(record(envelope(), timestamp_ms=-1), "event")
    assert row.timestamp_us == int(parse_datetime(WHEN).timestamp() * 1_000_000)


@pytest.mark.parametrize("value", [None, b"not json", b"{}"])
def test_not_an_envelope(value):
    with pytest.raises(Unstorable) as caught:
        build_row(record(value), "now")
    assert caught.value.error == "envelope"
    assert caught.value.reason


def test_a_time_that_is_not_a_time_matters_in_event_mode_only():
    value = envelope(when="yesterday-ish")
    assert build_row(record(value), "now").datetime == "yesterday-ish"
    with pytest.raises(Unstorable) as caught:
        build_row(record(value), "event")
    assert caught.value.error == "datetime"
    assert caught.value.reason.startswith("log.datetime not a time")


def test_event_mode_derives_log_id_from_the_line_id_when_the_envelope_has_one():
    entry = LogEntry("www1", "www_access", WHEN, "GET / 200", {}, line_id="0123456789abcdef:42")
    first = build_row(record(encode(entry), offset=7, timestamp_ms=1_000), "event")
    again = build_row(record(encode(entry), offset=9000, timestamp_ms=2_000), "event")
    assert first.log_id == again.log_id  # the line sent twice: one row
    assert first.log_id == line_timeuuid(parse_datetime(WHEN), "www1", "0123456789abcdef:42", 42)
    assert (first.timestamp_us, again.timestamp_us) == (1_000_000, 2_000_000)  # later wins
    other = LogEntry("www1", "www_access", WHEN, "GET / 200", {}, line_id="0123456789abcdef:60")
    assert build_row(record(encode(other)), "event").log_id != first.log_id


def test_an_envelope_without_line_id_keeps_the_kafka_derivation():
    assert (
        build_row(record(envelope(), offset=8), "event").log_id
        != build_row(record(envelope(), offset=7), "event").log_id
    )

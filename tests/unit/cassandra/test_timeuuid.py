"""event-mode log_id: deterministic, request time to the second, distinct per record or
per line (from the envelope's id)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from logpipe.cassandra import event_timeuuid, line_timeuuid, timeuuid_datetime

WHEN = datetime(2018, 8, 8, 17, 44, 40, tzinfo=UTC)


def test_same_record_same_uuid():
    assert event_timeuuid(WHEN, "www_logs", 3, 12345) == event_timeuuid(WHEN, "www_logs", 3, 12345)


def test_is_a_version_1_rfc4122_uuid():
    value = event_timeuuid(WHEN, "www_logs", 0, 7)
    assert value.version == 1
    assert value.variant == uuid.RFC_4122


def test_time_is_the_request_time_to_the_second():
    value = event_timeuuid(WHEN, "www_logs", 0, 9_999_999)
    held = timeuuid_datetime(value)
    assert held.replace(microsecond=0) == WHEN
    assert held - WHEN < timedelta(seconds=1)


def test_offset_in_another_zone_is_the_same_instant():
    local = WHEN.astimezone(timezone(timedelta(hours=-7)))
    assert event_timeuuid(local, "t", 0, 1) == event_timeuuid(WHEN, "t", 0, 1)


def test_sub_second_part_follows_the_offset():
    # One source's lines share a partition: within a second they sort in log order.
    first = event_timeuuid(WHEN, "t", 0, 100)
    second = event_timeuuid(WHEN, "t", 0, 101)
    assert first.time < second.time


def test_distinct_for_distinct_records():
    seen = {
        event_timeuuid(WHEN, topic, partition, offset)
        for topic in ("www_logs", "other")
        for partition in range(4)
        for offset in range(5000)
    }
    assert len(seen) == 2 * 4 * 5000


def test_same_offset_in_another_partition_differs():
    assert event_timeuuid(WHEN, "t", 0, 42) != event_timeuuid(WHEN, "t", 1, 42)
    assert event_timeuuid(WHEN, "t", 0, 42) != event_timeuuid(WHEN, "u", 0, 42)


@given(
    seconds=st.integers(min_value=0, max_value=4_000_000_000),
    partition=st.integers(min_value=0, max_value=10_000),
    offset=st.integers(min_value=0, max_value=2**62),
)
def test_time_truncates_to_the_second_for_any_record(seconds, partition, offset):
    when = datetime.fromtimestamp(seconds, tz=UTC)
    value = event_timeuuid(when, "www_logs", partition, offset)
    assert value.version == 1
    assert timeuuid_datetime(value).replace(microsecond=0) == when


LINE_ID = "0123456789abcdef:4242"


def test_a_line_id_gives_one_uuid_whatever_record_carries_it():
    value = line_timeuuid(WHEN, "www1", LINE_ID, 4242)
    assert value == line_timeuuid(WHEN, "www1", LINE_ID, 4242)
    assert value.version == 1 and value.variant == uuid.RFC_4122
    held = timeuuid_datetime(value)
    assert held.replace(microsecond=0) == WHEN
    assert held - WHEN == timedelta(microseconds=424)  # offset 4242 in 100-ns units


def test_line_uuids_differ_by_line_and_by_source():
    one = line_timeuuid(WHEN, "www1", LINE_ID, 4242)
    assert line_timeuuid(WHEN, "www2", LINE_ID, 4242) != one
    assert line_timeuuid(WHEN, "www1", "fedcba9876543210:4242", 4242) != one


def test_lines_of_one_file_within_a_second_sort_in_file_order():
    values = [line_timeuuid(WHEN, "www1", f"0123456789abcdef:{o}", o) for o in (0, 90, 181, 5000)]
    assert sorted(values, key=lambda v: v.time) == values

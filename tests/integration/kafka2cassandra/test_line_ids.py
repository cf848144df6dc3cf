"""Event mode on the real servers: a line sent twice (with its id) is one row; an envelope
without id keeps the derivation from its Kafka record (each record its own row)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from logpipe.cassandra import line_timeuuid
from logpipe.envelope import line_id_offset, parse_datetime
from tests.support.k2c import (
    all_logs,
    caught_up,
    end_offsets,
    entries,
    keyspace,
    make_topic,
    produce_entries,
    stream_poller,
    wait_until,
)

pytestmark = pytest.mark.integration


def test_a_line_sent_twice_is_one_row_and_an_envelope_without_id_is_one_row_per_record(
    kafka_bootstrap, cassandra_contact_points, unique_name
):
    topic, ks, group = unique_name("ids"), unique_name("ids"), unique_name("ids")
    base = entries(600, sources=2)
    with_id = [replace(e, line_id=f"00c0ffee00c0ffee:{i * 120}") for i, e in enumerate(base[:400])]
    without_id = base[400:]
    make_topic(kafka_bootstrap, topic, partitions=2)
    # Everything twice, the second time at other offsets (as after a kill -9 of logs2kafka).
    produce_entries(kafka_bootstrap, topic, with_id + without_id)
    produce_entries(kafka_bootstrap, topic, with_id + without_id)
    assert sum(end_offsets(kafka_bootstrap, topic).values()) == 1200
    with keyspace(cassandra_contact_points, ks) as store:
        with stream_poller(
            kafka_bootstrap,
            cassandra_contact_points,
            topic,
            ks,
            group,
            log_id_mode="event",
            batch_rows=16,
        ):
            assert wait_until(lambda: caught_up(kafka_bootstrap, group, topic), 90)
        logs = all_logs(store, ks)
        assert sorted(logs) == sorted([e.log for e in with_id] + [e.log for e in without_id] * 2)
        rows = store.session.execute(f"select log_source, log_id, log from {ks}.logs")
        ids = {row.log: row.log_id for row in rows if row.log in {e.log for e in with_id}}
        for e in with_id:
            assert e.line_id is not None
            when = parse_datetime(e.datetime)
            expected = line_timeuuid(when, e.source, e.line_id, line_id_offset(e.line_id))
            assert ids[e.log] == expected

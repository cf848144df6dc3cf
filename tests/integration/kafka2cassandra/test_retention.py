"""Retention on the real servers: `schema --ttl` sets the table's time-to-live and
time-window compaction; in event mode a row lives for the retention from its line's own
time, and a line already older is counted and not written."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from logpipe.cassandra import Store
from logpipe.config.connections import CassandraConnection
from logpipe.envelope import LogEntry
from tests.support.k2c import (
    K2C,
    caught_up,
    corpus_lines,
    make_topic,
    produce_entries,
    stream_poller,
    wait_until,
)

pytestmark = pytest.mark.integration

DAY = 86400


def lines_at(source: str, when: datetime, count: int) -> list[LogEntry]:
    return [
        LogEntry(source, "www_access", (when + timedelta(seconds=i)).isoformat(), line, {})
        for i, line in enumerate(corpus_lines()[:count])
    ]


def ttls(store: Store, ks: str, source: str) -> list[int]:
    # The whole (small) table, so that either layout is read alike.
    rows = store.session.execute(f"SELECT log_source, log_type, TTL(log) AS ttl FROM {ks}.logs")
    return [row.ttl for row in rows if (row.log_source, row.log_type) == (source, "www_access")]


def test_ttl_from_the_lines_time_and_old_lines_not_written(
    kafka_bootstrap, cassandra_contact_points, unique_name
):
    cp = cassandra_contact_points
    topic, ks, group = unique_name("ttl"), unique_name("ttl"), unique_name("ttl")
    schema = [str(K2C), "schema", "--keyspace", ks, "--ttl", "1d", "--contact-points", cp]
    for _ in range(2):  # applied twice: the same table
        done = subprocess.run(schema, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    store = Store(CassandraConnection(contact_points=cp))
    try:
        table = store.session.execute(
            "SELECT default_time_to_live, compaction FROM system_schema.tables "
            "WHERE keyspace_name = %s AND table_name = 'logs'",
            (ks,),
        ).one()
        assert table.default_time_to_live == DAY
        assert dict(table.compaction) == {
            "class": "org.apache.cassandra.db.compaction.TimeWindowCompactionStrategy",
            "compaction_window_unit": "HOURS",
            "compaction_window_size": "1",
            "max_threshold": "32",
            "min_threshold": "4",
        }

        now = datetime.now(UTC)
        recent = lines_at("www1", now - timedelta(hours=2), 200)
        old = lines_at("www1", now - timedelta(days=2), 50)
        make_topic(kafka_bootstrap, topic, partitions=1)
        produce_entries(kafka_bootstrap, topic, old[:25] + recent + old[25:])
        poller = stream_poller(kafka_bootstrap, cp, topic, ks, group, log_id_mode="event")
        with poller:
            assert wait_until(lambda: caught_up(kafka_bootstrap, group, topic), 60)
        assert poller.poller.metrics.expired._value.get() == len(old)
        assert poller.poller.metrics.written._value.get() == len(recent)
        event_ttls = ttls(store, ks, "www1")
        assert len(event_ttls) == len(recent)
        # A line of two hours ago (and up to 200 s later) has 22 hours left, less the
        # seconds since: the retention counts from the line's own time.
        assert all(DAY - 7200 - 120 <= ttl <= DAY - 7200 + 200 for ttl in event_ttls)

        # In now mode a row lives for the table's default from the time of writing.
        now_topic = unique_name("ttlnow")
        make_topic(kafka_bootstrap, now_topic, partitions=1)
        produce_entries(kafka_bootstrap, now_topic, lines_at("www2", now - timedelta(hours=2), 50))
        with stream_poller(kafka_bootstrap, cp, now_topic, ks, group):
            assert wait_until(lambda: caught_up(kafka_bootstrap, group, now_topic), 60)
        now_ttls = ttls(store, ks, "www2")
        assert len(now_ttls) == 50
        assert all(DAY - 120 <= ttl <= DAY for ttl in now_ttls)
    finally:
        store.drop_keyspace(ks)
        store.close()

"""Envelopes in Kafka become rows of Cassandra: all of them, once, queryable as users do."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cassandra.query import SimpleStatement

from logpipe.envelope import encode
from logpipe_testkit.readiness import http_get
from tests.support.k2c import (
    all_logs,
    caught_up,
    entries,
    keyspace,
    legacy_value,
    make_topic,
    produce,
    produce_entries,
    stream_poller,
    wait_until,
)
from tests.support.layout import suite_bucket

pytestmark = pytest.mark.integration


def test_event_mode_every_envelope_once_and_the_tutorial_queries(
    kafka_bootstrap, cassandra_contact_points, unique_name
):
    topic, ks, group = unique_name("rows"), unique_name("rows"), unique_name("rows")
    sent = entries(3000, sources=3)
    make_topic(kafka_bootstrap, topic, partitions=3)
    produce_entries(kafka_bootstrap, topic, sent)
    with keyspace(cassandra_contact_points, ks) as store:
        poller = stream_poller(
            kafka_bootstrap,
            cassandra_contact_points,
            topic,
            ks,
            group,
            log_id_mode="event",
            batch_rows=32,
            metrics_port=0,
        )
        with poller:
            assert wait_until(lambda: len(all_logs(store, ks)) >= len(sent), 90)
            port = poller.poller.health_port
            status, _ = http_get(f"http://127.0.0.1:{port}/readyz")
            assert status == 200
            # A row is readable a moment before the driver's callback counts it.
            written = b"kafka2cassandra_rows_written_total 3000.0"
            assert wait_until(
                lambda: written in http_get(f"http://127.0.0.1:{port}/metrics")[1], 10, 0.1
            )
            # The lag gauge is updated every 5 s: its first value with partitions may
            # come after the rows.
            lag = b"kafka2cassandra_consumer_lag{"
            assert wait_until(lambda: lag in http_get(f"http://127.0.0.1:{port}/metrics")[1], 10)
            status, body = http_get(f"http://127.0.0.1:{port}/metrics")
            assert status == 200
            assert b"kafka2cassandra_write_latency_seconds_bucket" in body
        assert poller.status == 0

        assert sorted(all_logs(store, ks)) == sorted(e.log for e in sent)
        assert caught_up(kafka_bootstrap, group, topic)

        session = store.session
        low = datetime(2015, 5, 17, 10, 30, tzinfo=UTC)
        high = datetime(2015, 5, 17, 12, 30, tzinfo=UTC)
        # The tutorial's count per partition, and its time window (in event mode,
        # log_id holds the request time); a bucketed table is read bucket by bucket.
        for source in ("www0", "www1", "www2"):
            if suite_bucket() is None:
                count = session.execute(
                    f"select count(*) from {ks}.logs where log_source = '{source}' "
                    "and log_type = 'www_access'"
                ).one()[0]
            else:
                count = store.count(ks, source, "www_access")
            assert count == sum(1 for e in sent if e.source == source)
        if suite_bucket() is None:
            rows = session.execute(
                f"select toTimestamp(log_id) as t, log_datetime, log from {ks}.logs "
                "where log_source = 'www1' and log_type = 'www_access' "
                "and log_id >= maxTimeuuid('2015-05-17 10:30:00+0000') "
                "and log_id < minTimeuuid('2015-05-17 12:30:00+0000')"
            )
            got = sorted(row.log for row in rows)
        else:
            got = sorted(row["log"] for row in store.select(ks, "www1", "www_access", low, high))
        expected = sorted(
            e.log
            for e in sent
            if e.source == "www1" and low <= datetime.fromisoformat(e.datetime) < high
        )
        assert expected and got == expected

        # toTimestamp(log_id) is the request time to the second, for every row.
        statement = SimpleStatement(
            f"select toTimestamp(log_id) as t, log_datetime from {ks}.logs", fetch_size=5000
        )
        for row in session.execute(statement):
            held = row.t.replace(tzinfo=UTC, microsecond=0)
            assert held == datetime.fromisoformat(row.log_datetime)


def test_now_mode_row_by_row(kafka_bootstrap, cassandra_contact_points, unique_name):
    topic, ks, group = unique_name("now"), unique_name("now"), unique_name("now")
    sent = entries(1000, sources=2)
    make_topic(kafka_bootstrap, topic, partitions=2)
    started = datetime.now(UTC).replace(microsecond=0)
    produce_entries(kafka_bootstrap, topic, sent)
    with keyspace(cassandra_contact_points, ks) as store:
        with stream_poller(
            kafka_bootstrap, cassandra_contact_points, topic, ks, group, batch_rows=1
        ):
            assert wait_until(lambda: len(all_logs(store, ks)) >= len(sent), 90)
        assert sorted(all_logs(store, ks)) == sorted(e.log for e in sent)
        assert caught_up(kafka_bootstrap, group, topic)
        # now(): log_id holds the time of writing, so a window from the start of the
        # test holds every row of the source.
        count = store.count(ks, "www0", "www_access", since=started)
        assert count == sum(1 for e in sent if e.source == "www0")
        assert store.count(ks, "www0", "www_access", until=started) == 0


def test_older_twice_encoded_envelopes_are_stored_like_new_ones(
    kafka_bootstrap, cassandra_contact_points, unique_name
):
    topic, ks, group = unique_name("legacy"), unique_name("legacy"), unique_name("legacy")
    sent = entries(400, sources=1)
    legacy, modern = sent[:200], sent[200:]
    records = [(b"log", legacy_value(e)) for e in legacy]
    records += [(e.source.encode(), encode(e)) for e in modern]
    make_topic(kafka_bootstrap, topic, partitions=1)
    produce(kafka_bootstrap, topic, records)
    with keyspace(cassandra_contact_points, ks) as store:
        with stream_poller(
            kafka_bootstrap, cassandra_contact_points, topic, ks, group, log_id_mode="event"
        ) as poller:
            assert wait_until(lambda: len(all_logs(store, ks)) >= len(sent), 60)
        assert poller.poller.metrics.dead_lettered._metrics == {}
        rows = {
            row.log: row
            for row in store.session.execute(
                f"select log_source, log_type, log_datetime, toTimestamp(log_id) as t, log "
                f"from {ks}.logs"
            )
        }
        assert sorted(rows) == sorted(e.log for e in sent)  # quotes of the old form removed
        for entry in legacy:
            row = rows[entry.log]
            assert (row.log_source, row.log_type) == (entry.source, entry.type)
            when = datetime.fromisoformat(entry.datetime)
            assert row.log_datetime == when.strftime("%Y-%m-%d %H:%M")
            # The old form has minutes only: log_id's time is that minute.
            assert row.t.replace(tzinfo=UTC, microsecond=0) == when.replace(second=0)
        for entry in modern:
            assert rows[entry.log].log_datetime == entry.datetime

"""The bucketed layout on the real servers: the bucket is recorded with the table, the
poller and `query` read it from there, and a table fed at a steady rate keeps every
partition within the size `schema --lines-per-second` gives (measured by Cassandra's own
sstablepartitions)."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from logpipe.cassandra import Store, timeuuid_datetime
from logpipe.cassandra.layout import partition_size
from logpipe.config.connections import CassandraConnection
from logpipe.envelope import LogEntry
from logpipe.formats.parser import LineParser
from tests.support.k2c import (
    CORPUS,
    K2C,
    caught_up,
    make_topic,
    produce_entries,
    stream_poller,
    wait_until,
)
from tests.support.sstables import flush, partition_stats

pytestmark = pytest.mark.integration

RATE = 5  # lines per second of each host
MINUTES = 6
BASE = datetime(2015, 5, 17, 10, 0, 0, tzinfo=UTC)
TABLE = "logs_by_bucket"


def k2c(*args: str, contact_points: str, ok: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(K2C), *args, "--contact-points", contact_points, "--log-format", "text"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if ok:
        assert result.returncode == 0, result.stderr
    return result


def steady(source: str) -> list[LogEntry]:
    """RATE real lines a second for MINUTES minutes of one host, as logs2kafka sends them
    (parsed), each at its own request time."""
    parser = LineParser("combined", source=source, timezone="UTC")
    lines = CORPUS.read_bytes().splitlines()
    out = []
    for i in range(RATE * 60 * MINUTES):
        entry = parser.parse(lines[i % len(lines)])
        entry.datetime = (BASE + timedelta(seconds=i / RATE)).isoformat()
        out.append(entry)
    return out


def test_partitions_stay_within_their_bucket_and_query_reads_across_buckets(
    kafka_bootstrap, cassandra_contact_points, unique_name
):
    cp = cassandra_contact_points
    topic, ks, group = unique_name("bucket"), unique_name("bucket"), unique_name("bucket")
    make = ("schema", "--keyspace", ks, "--table", TABLE, "--layout", "bucketed",
            "--bucket", "1m")  # fmt: skip
    first = k2c(*make, contact_points=cp).stdout
    assert first == k2c(*make, contact_points=cp).stdout  # idempotent
    assert "PRIMARY KEY ((log_source, log_type, bucket), log_id)" in first
    assert "comment = 'logpipe layout=bucketed bucket=1m'" in first
    # The bucket of a table is fixed; so is its layout.
    for other in (("--bucket", "5m"), ("--layout", "tutorial")):
        refused = k2c("schema", "--keyspace", ks, "--table", TABLE, "--layout", "bucketed",
                      *other, contact_points=cp, ok=False)  # fmt: skip
        assert refused.returncode == 1
        assert "its layout cannot change" in refused.stderr

    sizes = k2c("schema", "--lines-per-second", str(RATE), contact_points=cp).stdout
    rows_1m, bytes_1m = partition_size(RATE, "1m")
    assert rows_1m == RATE * 60
    line_1m = next(line for line in sizes.splitlines() if line.startswith("1m "))
    assert f"{rows_1m:,}" in line_1m and f"{bytes_1m / 1024**2:,.1f}" in line_1m

    sent = steady("www1") + steady("www2")
    make_topic(kafka_bootstrap, topic, partitions=2)
    produce_entries(kafka_bootstrap, topic, sent)
    store = Store(CassandraConnection(contact_points=cp))
    try:
        # Nothing tells the poller the layout: it reads it from the table.
        with stream_poller(kafka_bootstrap, cp, topic, ks, group, table=TABLE,
                           log_id_mode="event", batch_rows=32):  # fmt: skip
            assert wait_until(lambda: caught_up(kafka_bootstrap, group, topic), 90)

        flush(store, ks, TABLE, len(sent))
        stats = partition_stats(store, ks, TABLE)
        assert len(stats) == 2 * MINUTES  # one partition per host and minute
        assert sum(p.rows for p in stats) == len(sent)
        for partition in stats:
            assert partition.rows <= rows_1m, partition
            assert partition.size_bytes <= bytes_1m, partition

        # query reads the buckets: counts, a window across buckets, the newest rows.
        def query(*args: str) -> str:
            return k2c("query", "--keyspace", ks, "--table", TABLE, *args,
                       contact_points=cp).stdout  # fmt: skip

        assert query("--source", "www1", "--count").strip() == str(len(sent) // 2)
        window = query("--source", "www2", "--since", "2015-05-17T10:02:30+00:00",
                       "--until", "2015-05-17 10:05", "--output", "json")  # fmt: skip
        docs = [json.loads(line) for line in window.splitlines()]
        assert len(docs) == RATE * 150
        times = [d["log_time"] for d in docs]
        assert times == sorted(times, reverse=True)
        assert times[0].startswith("2015-05-17T10:04:59") and times[-1].startswith(
            "2015-05-17T10:02:30"
        )
        counted = query("--source", "www2", "--since", "2015-05-17 10:02:30",
                        "--until", "2015-05-17 10:05", "--count")  # fmt: skip
        assert counted.strip() == str(RATE * 150)
        latest = query("--source", "www1", "--limit", str(RATE * 90), "--output", "json")
        latest_times = [json.loads(line)["log_time"] for line in latest.splitlines()]
        assert len(latest_times) == RATE * 90  # across the last two buckets
        assert latest_times[-1].startswith(f"2015-05-17T10:0{MINUTES - 2}:30")

        # In now mode the row's bucket is the bucket of the time its log_id holds.
        now_topic = unique_name("bucketnow")
        make_topic(kafka_bootstrap, now_topic, partitions=1)
        produce_entries(kafka_bootstrap, now_topic, steady("www3")[:200])
        with stream_poller(kafka_bootstrap, cp, now_topic, ks, group, table=TABLE,
                           batch_rows=16):  # fmt: skip
            assert wait_until(lambda: caught_up(kafka_bootstrap, group, now_topic), 60)
        rows = list(store.session.execute(
            f"SELECT bucket, log_id FROM {ks}.{TABLE} WHERE log_source = 'www3' ALLOW FILTERING"
        ))  # fmt: skip
        assert len(rows) == 200
        for row in rows:
            start = row.bucket.replace(tzinfo=UTC)
            assert start <= timeuuid_datetime(row.log_id) < start + timedelta(minutes=1)
        assert query("--source", "www3", "--since", "1h", "--count").strip() == "200"
    finally:
        store.drop_keyspace(ks)
        store.close()

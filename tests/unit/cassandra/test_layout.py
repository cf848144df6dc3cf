"""Layouts: the table comment round trip, buckets of a time window, the schema statements."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from logpipe.cassandra import Replication, schema_statements
from logpipe.cassandra.layout import BUCKETS, Layout, partition_size, partition_sizes


@pytest.mark.parametrize("bucket", [None, *BUCKETS])
def test_the_comment_records_the_layout(bucket):
    layout = Layout("ks", "t", bucket)
    assert Layout.from_comment("ks", "t", layout.comment()) == layout


def test_a_table_without_comment_is_the_tutorials():
    assert Layout.from_comment("admintome", "logs", "").bucket is None
    with pytest.raises(ValueError, match="unknown layout"):
        Layout.from_comment("ks", "t", "logpipe layout=bucketed bucket=2h")


def test_buckets_of_a_window_newest_first():
    layout = Layout("ks", "t", "15m")
    since = datetime(2018, 8, 8, 17, 10, tzinfo=UTC)
    until = datetime(2018, 8, 8, 17, 45, 0, 1, tzinfo=UTC)
    assert [b.strftime("%H:%M") for b in layout.buckets(since, until)] == [
        "17:45", "17:30", "17:15", "17:00"
    ]  # fmt: skip
    assert layout.buckets(since, since) == []
    assert layout.bucket_start(datetime(2018, 8, 8, 17, 29, 59, tzinfo=UTC).timestamp()) == (
        datetime(2018, 8, 8, 17, 15, tzinfo=UTC).timestamp()
    )


def test_bucketed_schema_statements():
    keyspace, table, columns, *indexes = schema_statements(
        "ks", Replication.parse(1), "by_bucket", "5m"
    )
    assert indexes == [
        f"CREATE INDEX IF NOT EXISTS by_bucket_{c} ON ks.by_bucket ({c}) USING 'sai'"
        for c in ("status", "method", "path", "duration_us")
    ]
    assert keyspace.startswith("CREATE KEYSPACE IF NOT EXISTS ks ")
    assert table.startswith("CREATE TABLE IF NOT EXISTS ks.by_bucket (")
    assert "PRIMARY KEY ((log_source, log_type, bucket), log_id)" in table
    assert table.endswith("comment = 'logpipe layout=bucketed bucket=5m'")
    assert columns.startswith("ALTER TABLE ks.by_bucket ADD IF NOT EXISTS (")
    with pytest.raises(ValueError):
        schema_statements("ks", Replication.parse(1), "no-such name")


def test_partition_sizes_for_a_rate():
    assert partition_size(100, "1h")[0] == 360_000
    lines = partition_sizes(100)
    assert any(line.startswith("1h ") and "over Cassandra's guidance" in line for line in lines)
    assert not any(line.startswith("1m ") and "over" in line for line in lines)

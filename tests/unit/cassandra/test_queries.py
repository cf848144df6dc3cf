"""What `kafka2cassandra query` accepts as times and how it prints rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from logpipe.cassandra.queries import PartitionQuery, format_count, format_rows, parse_time

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2018-08-08T17:44:40+00:00", datetime(2018, 8, 8, 17, 44, 40, tzinfo=UTC)),
        ("2018-08-08T17:44:40Z", datetime(2018, 8, 8, 17, 44, 40, tzinfo=UTC)),
        ("2018-08-08 17:44", datetime(2018, 8, 8, 17, 44, tzinfo=UTC)),
        ("2018-08-08 17:44:40", datetime(2018, 8, 8, 17, 44, 40, tzinfo=UTC)),
        ("15m", NOW - timedelta(minutes=15)),
        ("2h", NOW - timedelta(hours=2)),
        ("7d", NOW - timedelta(days=7)),
    ],
)
def test_parse_time(text, expected):
    assert parse_time(text, now=NOW) == expected


def test_offset_is_kept():
    when = parse_time("2018-08-08T10:44:40-07:00")
    assert when.utcoffset() == timedelta(hours=-7)
    assert when == datetime(2018, 8, 8, 17, 44, 40, tzinfo=UTC)
    assert when.tzinfo == timezone(timedelta(hours=-7))


def test_nonsense_is_refused():
    with pytest.raises(ValueError, match="not a time"):
        parse_time("yesterday")


ROW = {
    "log_source": "www2",
    "log_type": "www_access",
    "log_id": "b9a3f7e7-9b32-11e8-a920-01aeeac75639",
    "log_time": datetime(2018, 8, 8, 17, 44, 40, tzinfo=UTC),
    "log_datetime": "2018-08-08T17:44:40+00:00",
    "log": '1.2.3.4 - - [08/Aug/2018:17:44:40 +0000] "GET / HTTP/1.0" 200 5',
}


def test_json_lines():
    (line,) = list(format_rows([ROW], "json"))
    doc = json.loads(line)
    assert doc["log"] == ROW["log"]
    assert doc["log_time"].startswith("2018-08-08T17:44:40")


def test_table_has_a_header_and_one_line_per_row():
    lines = list(format_rows([ROW, ROW], "table"))
    assert len(lines) == 3
    assert lines[0].startswith("log_time")
    assert lines[1].startswith("2018-08-08T17:44:40.000+00:00")
    assert lines[1].endswith(ROW["log"])


def test_count():
    assert format_count(42) == "42"
    assert json.loads(format_count(42, "json")) == {"count": 42}


def test_count_of_a_whole_partition():
    cql, params = PartitionQuery("admintome", "www2", "www_access").count()
    assert cql == ("SELECT count(*) FROM admintome.logs WHERE log_source = %s AND log_type = %s")
    assert params == ("www2", "www_access")


def test_select_within_a_window_with_a_limit():
    since, until = NOW - timedelta(hours=1), NOW
    cql, params = PartitionQuery("ks", "www2", "www_access", since, until).select(limit=5)
    assert cql.startswith("SELECT log_source, log_type, log_id, toTimestamp(log_id) AS log_time")
    assert cql.endswith(
        "FROM ks.logs WHERE log_source = %s AND log_type = %s AND log_id >= minTimeuuid(%s) "
        "AND log_id < minTimeuuid(%s) LIMIT %s"
    )
    assert params == ("www2", "www_access", since, until, 5)


def test_query_keyspace_is_checked():
    with pytest.raises(ValueError, match="keyspace"):
        PartitionQuery("ks; DROP TABLE x", "www2", "www_access").count()

"""`kafka2cassandra schema` (idempotent) and `kafka2cassandra query` (the tutorial's
count, latest rows and time window, with paging) against the real Cassandra."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from logpipe.cassandra import Row, Store, event_timeuuid
from logpipe.config.connections import CassandraConnection
from tests.support.k2c import K2C
from tests.support.rows import write_all

pytestmark = pytest.mark.integration

BASE = datetime(2018, 8, 8, 17, 0, 0, tzinfo=UTC)
ROWS = 2500  # more than one page of the query command


def k2c(*args: str, contact_points: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(K2C), *args, "--contact-points", contact_points, "--log-format", "text"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def filled(cassandra_contact_points, unique_name):
    """A keyspace made by the schema command, with ROWS rows of www2 one second apart."""
    ks = unique_name("query")
    first = k2c("schema", "--keyspace", ks, "--replication-factor", "1",
                contact_points=cassandra_contact_points)  # fmt: skip
    again = k2c("schema", "--keyspace", ks, "--replication-factor", "1",
                contact_points=cassandra_contact_points)  # fmt: skip
    assert first.stdout == again.stdout  # idempotent: the same statements, no error
    assert f"CREATE TABLE IF NOT EXISTS {ks}.logs" in first.stdout
    store = Store(CassandraConnection(contact_points=cassandra_contact_points))
    try:
        assert store.keyspace_replication(ks)["replication_factor"] == "1"
        writer = store.writer(ks, log_id_mode="event")
        rows = []
        for i in range(ROWS):
            when = BASE + timedelta(seconds=i)
            rows.append(Row("www2", "www_access", when.isoformat(), f"line {i}",
                            event_timeuuid(when, "t", 0, i), 1))  # fmt: skip
        write_all(writer, ([row] for row in rows), timeout=60.0)
        yield ks
    finally:
        store.drop_keyspace(ks)
        store.close()


def test_count_window_and_latest(filled, cassandra_contact_points):
    cp = cassandra_contact_points
    assert k2c("query", "--keyspace", filled, "--source", "www2", "--count",
               contact_points=cp).stdout.strip() == str(ROWS)  # fmt: skip
    assert k2c("query", "--keyspace", filled, "--source", "nobody", "--count",
               contact_points=cp).stdout.strip() == "0"  # fmt: skip
    # [17:10, 17:20): rows 600 .. 1199
    window = k2c("query", "--keyspace", filled, "--source", "www2", "--type", "www_access",
                 "--since", "2018-08-08 17:10", "--until", "2018-08-08T17:20:00+00:00",
                 "--output", "json", contact_points=cp)  # fmt: skip
    docs = [json.loads(line) for line in window.stdout.splitlines()]
    assert [d["log"] for d in docs] == [f"line {i}" for i in range(1199, 599, -1)]
    assert docs[0]["log_time"].startswith("2018-08-08T17:19:59")
    counted = k2c("query", "--keyspace", filled, "--source", "www2", "--count",
                  "--since", "2018-08-08 17:10", "--until", "2018-08-08 17:20",
                  "--output", "json", contact_points=cp)  # fmt: skip
    assert json.loads(counted.stdout) == {"count": 600}
    # Every row, newest first, across several pages.
    everything = k2c("query", "--keyspace", filled, "--source", "www2", "--output", "json",
                     contact_points=cp)  # fmt: skip
    assert len(everything.stdout.splitlines()) == ROWS


def test_latest_as_a_table(filled, cassandra_contact_points):
    table = k2c("query", "--keyspace", filled, "--source", "www2", "--limit", "3",
                contact_points=cassandra_contact_points)  # fmt: skip
    lines = table.stdout.splitlines()
    assert lines[0].startswith("log_time (toTimestamp(log_id))")
    assert len(lines) == 4
    last = BASE + timedelta(seconds=ROWS - 1)
    assert lines[1].startswith(last.isoformat(timespec="milliseconds"))
    assert lines[1].endswith(f"line {ROWS - 1}")
    assert lines[3].endswith(f"line {ROWS - 3}")


def test_bad_time_is_a_usage_error(cassandra_contact_points):
    result = subprocess.run(
        [str(K2C), "query", "--source", "www2", "--since", "yesterday",
         "--contact-points", cassandra_contact_points],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "not a time" in result.stderr

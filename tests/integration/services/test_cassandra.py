"""The local Apache Cassandra from services/ is a real node: the users' table and queries work.

This checks the server itself, so it talks to it with cassandra-driver directly.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from cassandra.cluster import Cluster

pytestmark = pytest.mark.integration

TABLE = """
CREATE TABLE {ks}.logs (
  log_source text, log_type text, log_id timeuuid, log text, log_datetime text,
  PRIMARY KEY ((log_source, log_type), log_id)
) WITH CLUSTERING ORDER BY (log_id DESC)
"""


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def test_logs_table_counts_and_time_windows(cassandra_port, unique_name):
    keyspace = unique_name("services_ks")
    cluster = Cluster(["127.0.0.1"], port=cassandra_port)
    session = cluster.connect()
    session.execute(
        f"CREATE KEYSPACE {keyspace} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': '1'} AND durable_writes = true"
    )
    try:
        session.execute(TABLE.format(ks=keyspace))
        insert = session.prepare(
            f"INSERT INTO {keyspace}.logs (log_source, log_type, log_datetime, log_id, log) "
            "VALUES (?, ?, ?, now(), ?)"
        )

        def write(source: str, label: str, count: int) -> None:
            for i in range(count):
                session.execute(insert, (source, "www_access", "2018-08-08 17:44", f"{label} {i}"))

        write("www2", "before", 3)
        write("www1", "other host", 2)
        time.sleep(0.05)
        window_start = datetime.now(UTC)
        time.sleep(0.05)
        write("www2", "inside", 4)
        time.sleep(0.05)
        window_end = datetime.now(UTC)
        time.sleep(0.05)
        write("www2", "after", 2)

        count = session.execute(
            f"select count(*) from {keyspace}.logs "
            "where log_source = 'www2' and log_type = 'www_access'"
        ).one()[0]
        assert count == 9

        rows = list(
            session.execute(
                f"select toTimestamp(log_id), log from {keyspace}.logs "
                "where log_source = 'www2' and log_type = 'www_access' "
                f"and log_id >= maxTimeuuid('{_stamp(window_start)}') "
                f"and log_id < minTimeuuid('{_stamp(window_end)}')"
            )
        )
        assert sorted(row.log for row in rows) == [f"inside {i}" for i in range(4)]
        # clustering order is log_id DESC: newest first
        assert [row.log for row in rows] == [f"inside {i}" for i in reversed(range(4))]
        for row in rows:
            written = row[0].replace(tzinfo=UTC)
            assert (
                window_start.replace(microsecond=window_start.microsecond // 1000 * 1000) <= written
            )
            assert written < window_end
    finally:
        session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}")
        cluster.shutdown()

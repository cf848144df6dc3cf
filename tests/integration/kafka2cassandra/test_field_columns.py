"""The parsed fields as columns: a tutorial table gains them in place, the poller fills
them, and what a line lacks is left unset (Cassandra reads no tombstone)."""

from __future__ import annotations

import subprocess
from collections import Counter
from typing import Any

import pytest
from cassandra.query import SimpleStatement

from logpipe.cassandra import Store
from logpipe.cassandra.columns import FIELD_COLUMN_NAMES, field_values
from logpipe.config.connections import CassandraConnection
from logpipe.envelope import LogEntry
from logpipe.formats.parser import LineParser
from tests.support.k2c import (
    CORPUS,
    K2C,
    ROOT,
    caught_up,
    make_topic,
    produce_entries,
    stream_poller,
    wait_until,
)

pytestmark = pytest.mark.integration

VARIED = ROOT / "tests" / "data" / "access-varied-licensed.log"
ERROR_LINES = [
    "[Sun May 17 10:05:03.123456 2015] [proxy:error] [pid 4242:tid 1400] "
    "[client 10.1.2.3:51234] AH00898: Error reading from remote server",
    "[Sun May 17 10:06:00 2015] [core:notice] [pid 17] AH00094: Command line: 'httpd'",
]


def tutorial_table(store: Store, ks: str) -> None:
    """The keyspace and table exactly as the tutorial's users made them in cqlsh."""
    store.session.execute(
        f"CREATE KEYSPACE {ks} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': '1'} AND durable_writes = true"
    )
    store.session.execute(
        f"CREATE TABLE {ks}.logs (log_source text, log_type text, log_id timeuuid, log text, "
        "log_datetime text, PRIMARY KEY ((log_source, log_type), log_id)) "
        "WITH CLUSTERING ORDER BY (log_id DESC)"
    )


def parsed(count: int, start: int, source: str) -> list[LogEntry]:
    """Real lines parsed by logpipe's parser: combined lines of both corpora, a line that
    does not parse, and error-log lines."""
    lines = CORPUS.read_text().splitlines()[start : start + count]
    lines += VARIED.read_text().splitlines()[:40]
    lines.append(f"not an access log line {source} {start}")
    access = LineParser("combined", source=source, timezone="UTC")
    out = [access.parse(line.encode()) for line in lines]
    errors = LineParser("error", source=source, timezone="UTC")
    out += [errors.parse(line.encode()) for line in ERROR_LINES]
    return out


def k2c_schema(ks: str, contact_points: str) -> str:
    result = subprocess.run(
        # The tutorial's table gains the columns: that layout, whatever the suite runs on.
        [
            str(K2C),
            "schema",
            "--keyspace",
            ks,
            "--layout",
            "tutorial",
            "--contact-points",
            contact_points,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def stored(store: Store, ks: str) -> Counter:
    """(log, field columns that have a value) of every row."""
    columns = ", ".join(FIELD_COLUMN_NAMES)
    rows = store.session.execute(
        SimpleStatement(f"SELECT log, {columns} FROM {ks}.logs", fetch_size=5000)
    )
    out: Counter = Counter()
    for row in rows:
        values = {
            name: (dict(value) if name == "other_fields" else value)
            for name, value in row._asdict().items()
            if name != "log" and value is not None
        }
        out[(row.log, _frozen(values))] += 1
    return out


def _frozen(values: dict[str, Any]) -> tuple:
    items = ((k, tuple(sorted(v.items())) if isinstance(v, dict) else v) for k, v in values.items())
    return tuple(sorted(items))


def expected(entries: list[LogEntry]) -> Counter:
    return Counter((e.log, _frozen(field_values(e.fields, e.parse_error))) for e in entries)


def tombstones_read(store: Store, ks: str, source: str, log_type: str) -> int:
    """Tombstone cells Cassandra reports (in its query trace) reading one partition whole."""
    result = store.session.execute(
        f"SELECT * FROM {ks}.logs WHERE log_source = %s AND log_type = %s",
        (source, log_type),
        trace=True,
    )
    list(result)
    counted = [
        int(event.description.split(" and ")[1].split()[0])
        for event in result.get_query_trace(max_wait_sec=10).events
        if "tombstone cells" in event.description
    ]
    assert counted, "no read report in the trace"
    return sum(counted)


def test_tutorial_table_gains_the_columns_and_the_poller_fills_them(
    kafka_bootstrap, cassandra_contact_points, unique_name
):
    topic, ks, group = unique_name("fields"), unique_name("fields"), unique_name("fields")
    cp = cassandra_contact_points
    before = parsed(150, 0, "www0")
    after = parsed(400, 150, "www1") + parsed(200, 550, "www0")
    make_topic(kafka_bootstrap, topic, partitions=2)
    store = Store(CassandraConnection(contact_points=cp))
    try:
        tutorial_table(store, ks)
        # Before the schema command: the poller writes the tutorial's columns only.
        produce_entries(kafka_bootstrap, topic, before)
        poller = stream_poller(kafka_bootstrap, cp, topic, ks, group, log_id_mode="event")
        with poller:
            assert wait_until(lambda: caught_up(kafka_bootstrap, group, topic), 60)
        assert set(store.table_columns(ks)) == {
            "log_source", "log_type", "log_id", "log", "log_datetime"
        }  # fmt: skip

        first, again = k2c_schema(ks, cp), k2c_schema(ks, cp)
        assert first == again
        assert f"ALTER TABLE {ks}.logs ADD IF NOT EXISTS (" in first
        assert set(FIELD_COLUMN_NAMES) <= set(store.table_columns(ks))

        # After: batches (event mode) and single rows (now mode) fill the columns.
        produce_entries(kafka_bootstrap, topic, after[:400])
        poller = stream_poller(
            kafka_bootstrap, cp, topic, ks, group, log_id_mode="event", batch_rows=32
        )
        with poller:
            assert wait_until(lambda: caught_up(kafka_bootstrap, group, topic), 60)
        produce_entries(kafka_bootstrap, topic, after[400:])
        poller = stream_poller(kafka_bootstrap, cp, topic, ks, group, batch_rows=1)
        with poller:
            assert wait_until(lambda: caught_up(kafka_bootstrap, group, topic), 60)

        want = Counter((e.log, ()) for e in before) + expected(after)
        assert stored(store, ks) == want
        assert any(e.parse_error for e in after)
        assert any(e.fields and "level" in field_values(e.fields) for e in after)

        # The tutorial's query, unchanged, on the table that gained the columns.
        count = store.session.execute(
            f"select count(*) from {ks}.logs where log_source = 'www0' and log_type = 'www_access'"
        ).one()[0]
        assert count == sum(
            1 for e in before + after if e.source == "www0" and e.type == "www_access"
        )
        # Unset, never null: reading every partition whole meets no tombstone.
        for source in ("www0", "www1"):
            for log_type in ("www_access", "www_error"):
                assert tombstones_read(store, ks, source, log_type) == 0
        # ... where one null written by hand is one.
        store.session.execute(
            f"INSERT INTO {ks}.logs (log_source, log_type, log_id, status) "
            "VALUES ('www1', 'www_error', now(), null)"
        )
        assert tombstones_read(store, ks, "www1", "www_error") == 1
    finally:
        store.drop_keyspace(ks)
        store.close()

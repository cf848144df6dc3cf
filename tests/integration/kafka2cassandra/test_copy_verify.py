"""`kafka2cassandra copy` (a tutorial table into a bucketed one, fields parsed again,
resumed after an interruption) and `kafka2cassandra verify` (lines in the files against
rows in the table, per hour) on the real Cassandra."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import pytest
from cassandra.query import SimpleStatement
from click.testing import CliRunner

from logpipe.cassandra import Replication, Row, Store, line_timeuuid, schema_statements
from logpipe.cassandra.columns import FIELD_COLUMN_NAMES, field_values
from logpipe.config.connections import CassandraConnection
from logpipe.envelope import parse_datetime
from logpipe.formats.parser import LineParser
from logpipe.kafka2cassandra.cli import main
from logpipe.kafka2cassandra.copy import copy_table
from tests.support.k2c import CORPUS
from tests.support.rows import write_all

pytestmark = pytest.mark.integration

LINES = 3000  # 25 hours of the corpus, from 17 May 2015 10:05
BAD = [b"not a log line at all", b"\x16\x03\x01 garbage"]


@pytest.fixture
def tables(cassandra_contact_points, unique_name, tmp_path):
    """A tutorial table as its users have it (no field columns), filled with real lines of
    www1 (two that do not parse), an empty bucketed table, and the lines as log files."""
    ks = unique_name("copy")
    store = Store(CassandraConnection(contact_points=cassandra_contact_points))
    try:
        for statement in schema_statements(ks, Replication.parse(1))[:2]:
            store.session.execute(statement)  # the keyspace and the tutorial's table
        lines = CORPUS.read_bytes().splitlines()[:LINES] + BAD
        parser = LineParser("combined", source="www1", timezone="UTC")
        entries = [parser.parse(line) for line in lines]
        writer = store.writer(ks, log_id_mode="event")
        assert writer.columns == ()
        rows = [
            Row("www1", "www_access", entry.datetime, entry.log,
                line_timeuuid(parse_datetime(entry.datetime), "www1", f"abcdef01:{i}", i),
                1_000 + i)
            for i, entry in enumerate(entries)
        ]  # fmt: skip
        # one partition: batches of it
        write_all(writer, (rows[start : start + 32] for start in range(0, len(rows), 32)))
        store.apply_schema(ks, Replication.parse(1), "logs_by_bucket", "1h")
        # The files: the first half rotated and compressed, the rest plain.
        with gzip.open(tmp_path / "access.log.1.gz", "wb") as gz:
            gz.write(b"".join(line + b"\n" for line in lines[:1500]))
        (tmp_path / "access.log").write_bytes(b"".join(line + b"\n" for line in lines[1500:]))
        yield ks, store, entries, tmp_path
    finally:
        store.drop_keyspace(ks)
        store.close()


def invoke(cp: str, *args: str):
    return CliRunner().invoke(main, [*args, "--contact-points", cp])


def target_rows(store: Store, ks: str) -> dict:
    columns = ", ".join(FIELD_COLUMN_NAMES)
    rows = store.session.execute(
        SimpleStatement(
            f"SELECT log_id, log, log_datetime, bucket, writetime(log) AS written, {columns} "
            f"FROM {ks}.logs_by_bucket",
            fetch_size=5000,
        )
    )
    return {row.log_id: row for row in rows}


def test_copy_resumes_and_fills_the_field_columns(tables, cassandra_contact_points, tmp_path):
    ks, store, entries, _ = tables
    state = tmp_path / "copy-state.json"
    first = copy_table(store, ks, "logs", "logs_by_bucket", state, page_size=500, max_pages=2)
    assert (first.pages, first.copied, first.done) == (2, 1000, False)
    assert state.exists()
    assert len(target_rows(store, ks)) == 1000

    result = invoke(cassandra_contact_points, "copy", "--keyspace", ks, "--from", "logs",
                    "--to", "logs_by_bucket", "--state-file", str(state),
                    "--page-size", "500")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"copied {len(entries)} rows" in result.stdout and "(resumed)" in result.stdout
    assert not state.exists()

    source = {
        row.log_id: row
        for row in store.session.execute(
            f"SELECT log_id, log, log_datetime, writetime(log) AS written FROM {ks}.logs"
        )
    }
    copied = target_rows(store, ks)
    assert set(copied) == set(source)
    by_line = {e.log: e for e in entries}
    for log_id, row in copied.items():
        assert (row.log, row.log_datetime, row.written) == (
            source[log_id].log, source[log_id].log_datetime, source[log_id].written
        )  # fmt: skip
        hour = datetime.fromtimestamp(
            (log_id.time - 0x01B21DD213814000) // 10**7 // 3600 * 3600, tz=UTC
        )
        assert row.bucket.replace(tzinfo=UTC) == hour
        entry = by_line[row.log]
        got = {n: getattr(row, n) for n in FIELD_COLUMN_NAMES if getattr(row, n) is not None}
        if "other_fields" in got:
            got["other_fields"] = dict(got["other_fields"])
        assert got == field_values(entry.fields, entry.parse_error)
    assert sum(1 for row in copied.values() if row.parse_error) == len(BAD)


def test_verify_finds_exactly_the_rows_removed(tables, cassandra_contact_points):
    ks, store, _entries, folder = tables
    cp = cassandra_contact_points
    assert copy_table(store, ks, "logs", "logs_by_bucket", folder / "state.json").done
    files = [str(folder / "access.log.1.gz"), str(folder / "access.log")]
    args = ("verify", "--keyspace", ks, "--table", "logs_by_bucket", "--source", "www1")

    ok = invoke(cp, *args, *files)
    assert ok.exit_code == 0, ok.output
    assert f"every hour matches: {LINES + len(BAD)} lines" in ok.stdout

    # Remove 7 rows of 12:00 and 3 of 15:00.
    removed = {"2015-05-17T12:00Z": 7, "2015-05-17T15:00Z": 3}
    for hour, count in removed.items():
        start = datetime.strptime(hour, "%Y-%m-%dT%H:00Z").replace(tzinfo=UTC)
        rows = list(store.session.execute(
            f"SELECT log_id FROM {ks}.logs_by_bucket WHERE log_source = 'www1' "
            "AND log_type = 'www_access' AND bucket = %s LIMIT %s", (start, count)
        ))  # fmt: skip
        for row in rows:
            store.session.execute(
                f"DELETE FROM {ks}.logs_by_bucket WHERE log_source = 'www1' AND "
                "log_type = 'www_access' AND bucket = %s AND log_id = %s",
                (start, row.log_id),
            )
    found = invoke(cp, *args, *files)
    assert found.exit_code == 1
    lines = found.stdout.splitlines()
    assert lines[0].startswith("hour (UTC)")
    reported = {line.split()[0]: int(line.split()[3]) for line in lines[1:]}
    assert reported == removed

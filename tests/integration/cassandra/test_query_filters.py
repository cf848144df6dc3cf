"""`kafka2cassandra query` filters and summaries: each answer equals the one computed from a
full scan of the same rows, on a tutorial table and on a bucketed one."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from cassandra.query import SimpleStatement
from click.testing import CliRunner

from logpipe.cassandra import Replication, Row, Store, line_timeuuid
from logpipe.config.connections import CassandraConnection
from logpipe.formats.parser import LineParser
from logpipe.kafka2cassandra.cli import main
from tests.support.k2c import CORPUS
from tests.support.rows import write_all

pytestmark = pytest.mark.integration

BASE = datetime(2015, 5, 17, 10, 0, 0, tzinfo=UTC)
TABLES = {"tutorial": ("logs", None), "bucketed": ("logs_by_bucket", "15m")}


def duration_us(i: int) -> int:
    return (i * 7919) % 2_000_000


@pytest.fixture(scope="module")
def filled(cassandra_contact_points, unique_name):
    """The real corpus (10,000 lines, one a second, a duration each) of host www1, and
    3 lines of www2, in both layouts; and every row of each table, read by a full scan."""
    ks = unique_name("filters")
    store = Store(CassandraConnection(contact_points=cassandra_contact_points))
    try:
        parser = LineParser("combined", source="www1", timezone="UTC")
        rows = []
        for i, line in enumerate(CORPUS.read_bytes().splitlines()):
            entry = parser.parse(line)
            entry.fields["duration_us"] = duration_us(i)
            when = BASE + timedelta(seconds=i)
            source = "www2" if i % 3000 == 1 else "www1"
            rows.append((source, when, entry, i))
        scans = {}
        for table, bucket in TABLES.values():
            store.apply_schema(ks, Replication.parse(1), table, bucket)
            writer = store.writer(ks, table=table, log_id_mode="event")
            groups: dict = {}
            for source, when, entry, i in rows:
                log_id = line_timeuuid(when, source, f"abcdef01:{i}", i)
                row = Row(source, "www_access", when.isoformat(), entry.log, log_id, 1,
                          entry.fields)  # fmt: skip
                groups.setdefault(writer.partition_of(row), []).append(row)
            batches = (g[i : i + 32] for g in groups.values() for i in range(0, len(g), 32))
            write_all(writer, batches)
            scans[table] = list(
                store.session.execute(
                    SimpleStatement(
                        "SELECT log_source, log_type, log_id, toTimestamp(log_id) AS t, status, "
                        f"method, path, duration_us FROM {ks}.{table}",
                        fetch_size=5000,
                    )
                )
            )
            assert len(scans[table]) == len(rows)
        yield ks, cassandra_contact_points, scans
    finally:
        store.drop_keyspace(ks)
        store.close()


def run(filled, layout: str, *args: str) -> str:
    ks, contact_points, _ = filled
    table = TABLES[layout][0]
    result = CliRunner().invoke(
        main,
        ["query", "--keyspace", ks, "--table", table, "--contact-points", contact_points,
         "--source", "www1", *args],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result.stdout


def scanned(filled, layout: str, since=None, until=None, **want):
    """The rows of www1 the full scan holds that match, newest first (Python's filter)."""
    rows = [r for r in filled[2][TABLES[layout][0]] if r.log_source == "www1"]
    out = []
    for r in rows:
        t = r.t.replace(tzinfo=UTC)
        if (since is not None and t < since) or (until is not None and t >= until):
            continue
        if "status" in want and not (r.status is not None and want["status"](r.status)):
            continue
        if "method" in want and r.method != want["method"]:
            continue
        if "prefix" in want and not (r.path or "").startswith(want["prefix"]):
            continue
        if "min_us" in want and not (r.duration_us is not None and r.duration_us >= want["min_us"]):
            continue
        out.append(r)
    return sorted(out, key=lambda r: r.t, reverse=True)


def ids(output: str) -> list[str]:
    return [json.loads(line)["log_id"] for line in output.splitlines()]


def expected_ids(rows) -> list[str]:
    return [str(r.log_id) for r in rows]


@pytest.fixture(params=list(TABLES))
def layout(request):
    return request.param


def test_status_class_and_code(filled, layout):
    five = scanned(filled, layout, status=lambda s: 500 <= s < 600)
    assert five  # the corpus has a few
    assert ids(run(filled, layout, "--status", "5xx", "--output", "json")) == expected_ids(five)
    not_found = scanned(filled, layout, status=lambda s: s == 404)
    assert run(filled, layout, "--status", "404", "--count").strip() == str(len(not_found))


def test_method(filled, layout):
    heads = scanned(filled, layout, method="HEAD")
    assert heads
    assert ids(run(filled, layout, "--method", "HEAD", "--output", "json")) == expected_ids(heads)


def test_path_prefix(filled, layout):
    images = scanned(filled, layout, prefix="/images/")
    assert 100 < len(images) < 9000
    out = run(filled, layout, "--path-prefix", "/images/", "--output", "json")
    assert ids(out) == expected_ids(images)


def test_min_duration(filled, layout):
    slow = scanned(filled, layout, min_us=1_500_000)
    assert 100 < len(slow) < 9000
    assert run(filled, layout, "--min-duration", "1.5s", "--count").strip() == str(len(slow))
    out = run(filled, layout, "--min-duration", "1500ms", "--limit", "50", "--output", "json")
    assert ids(out) == expected_ids(slow[:50])


def test_all_filters_in_a_window(filled, layout):
    since, until = BASE + timedelta(minutes=20), BASE + timedelta(minutes=100)
    want = scanned(filled, layout, since, until, status=lambda s: 200 <= s < 300,
                   method="GET", prefix="/presentations/", min_us=500_000)  # fmt: skip
    assert want
    out = run(filled, layout, "--since", since.isoformat(), "--until", until.isoformat(),
              "--status", "2xx", "--method", "GET", "--path-prefix", "/presentations/",
              "--min-duration", "500ms", "--output", "json")  # fmt: skip
    assert ids(out) == expected_ids(want)


@pytest.mark.parametrize("by", ["status", "minute", "path"])
def test_count_by(filled, layout, by):
    rows = scanned(filled, layout)
    if by == "minute":
        counts = Counter(r.t.replace(tzinfo=UTC, second=0, microsecond=0).isoformat(
            timespec="minutes") for r in rows)  # fmt: skip
    else:
        counts = Counter(getattr(r, by) for r in rows)
    want = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0] is None, kv[0] or ""))[:7]
    out = run(filled, layout, "--count-by", by, "--top", "7", "--output", "json")
    got = [(d[by], d["count"]) for d in map(json.loads, out.splitlines())]
    assert got == want


def test_count_by_with_a_filter(filled, layout):
    rows = scanned(filled, layout, status=lambda s: 300 <= s < 400)
    want = Counter(r.status for r in rows)
    out = run(filled, layout, "--status", "3xx", "--count-by", "status", "--output", "json")
    assert {d["status"]: d["count"] for d in map(json.loads, out.splitlines())} == want

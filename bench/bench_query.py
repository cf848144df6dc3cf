"""``kafka2cassandra query`` filters on a large table, beside the same answer from a full scan.

``--rows`` rows (1,000,000 by default) of the real corpus (tests/data/access-combined-real.log,
parsed by logpipe's parser) across ``--hosts`` hosts, their request times spread evenly
over the last ``--hours`` hours, written in event mode into a table of each layout
(``tutorial``, and ``bucketed`` with 1-hour buckets). For one host, two questions:

* the 5xx of the last hour: ``query --status 5xx --since 1h`` (the rows), and the 4xx
  (the corpus has few 5xx);
* ``query --count-by status`` (every row of the host);

each answered by logpipe's query (``Store.select``/``Store.count_by``, what the command
runs, in this process) and by the baseline: a full scan of the table reading every raw
line and parsing it again (what a user of the tutorial's table, which keeps only the raw
line, has to do). The answers must be equal; the latencies are printed side by side.

    .venv/bin/python bench/bench_query.py [--rows 1000000] [--hosts 10] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data" / "access-combined-real.log"
LAYOUTS = {"tutorial": ("logs", None), "bucketed": ("logs_by_bucket", "1h")}
#: --status questions over the last hour (the corpus has few 5xx: 4xx as well).
STATUS_QUESTIONS = {"5xx": (500, 600), "4xx": (400, 500)}


def fill(store, keyspace: str, table: str, rows: int, hosts: int, hours: float, now: datetime):
    """Write the rows; returns the seconds it took."""
    from logpipe.cassandra import Row, line_timeuuid
    from logpipe.formats.parser import LineParser

    lines = CORPUS.read_bytes().splitlines()
    parsed = [LineParser("combined", timezone="UTC").parse(line) for line in lines]
    writer = store.writer(keyspace, table=table, log_id_mode="event", max_in_flight=128)
    step = hours * 3600 / (rows / hosts)
    failed: list = []

    def submit(group: list) -> None:
        def done(exc, _latency):
            if exc is not None:
                failed.append(group)

        writer.submit(group, done)

    started = time.monotonic()
    pending: dict = {}
    counters: dict[str, int] = {}
    for i in range(rows):
        # Hosts take lines in runs of 7, so each gets lines of every kind; n counts a
        # host's lines.
        host = f"www{(i // 7) % hosts}"
        n = counters[host] = counters.get(host, -1) + 1
        entry = parsed[i % len(parsed)]
        when = now - timedelta(seconds=(rows // hosts - n) * step)
        when = when.replace(microsecond=0)
        row = Row(host, "www_access", when.isoformat(), entry.log,
                  line_timeuuid(when, host, f"bench0001:{n}", n), 1, entry.fields)  # fmt: skip
        group = pending.setdefault(writer.partition_of(row), [])
        group.append(row)
        if len(group) == 32:
            submit(pending.pop(writer.partition_of(row)))
        while writer.queued > 1000:
            time.sleep(0.001)
    for group in pending.values():
        submit(group)
    assert writer.drain(600), "writes did not finish"
    for _attempt in range(30):  # the shared node restarted or timed out: write those again
        if not failed:
            break
        print(f"  writing {len(failed)} failed batches again", file=sys.stderr)
        time.sleep(2)
        again, failed[:] = list(failed), []
        for group in again:
            submit(group)
        writer.drain(600)
    assert not failed, "writes kept failing"
    return time.monotonic() - started


def full_scan(store, keyspace: str, table: str):
    """Every row's source, type, time and raw line, in token order."""
    from cassandra.query import SimpleStatement

    statement = SimpleStatement(
        f"SELECT log_source, log_type, log_id, toTimestamp(log_id) AS t, log "
        f"FROM {keyspace}.{table}",
        fetch_size=5000,
    )
    yield from store.session.execute(statement, timeout=600.0)


def scan_status(store, keyspace, table, host, since, low: int, high: int) -> list[str]:
    from logpipe.formats.parser import LineParser

    parser = LineParser("combined", timezone="UTC")
    out = []
    for row in full_scan(store, keyspace, table):
        if row.log_source != host or row.t.replace(tzinfo=UTC) < since:
            continue
        status = (parser.parse(row.log.encode()).fields or {}).get("status")
        if status is not None and low <= status < high:
            out.append((row.t, str(row.log_id)))
    return [log_id for _t, log_id in sorted(out, reverse=True)]


def scan_count_by_status(store, keyspace, table, host) -> dict:
    from logpipe.formats.parser import LineParser

    parser = LineParser("combined", timezone="UTC")
    counts: Counter = Counter()
    for row in full_scan(store, keyspace, table):
        if row.log_source == host:
            counts[(parser.parse(row.log.encode()).fields or {}).get("status")] += 1
    return dict(counts)


def timed(fn, repeat: int = 3):
    """(answer, median seconds over ``repeat`` runs)."""
    times, answer = [], None
    for _ in range(repeat):
        started = time.monotonic()
        answer = fn()
        times.append(time.monotonic() - started)
    return answer, statistics.median(times)


def run(rows: int = 1_000_000, hosts: int = 10, hours: float = 24.0) -> dict:
    from logpipe.cassandra import Replication, Store
    from logpipe.cassandra.queries import Filters
    from logpipe.config.connections import CassandraConnection

    contact_points = os.environ.get("CASSANDRA_CONTACT_POINTS", "127.0.0.1")
    store = Store(CassandraConnection(contact_points=contact_points), request_timeout=120.0)
    keyspace = f"bench_query_{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    host = "www3"
    results: dict = {"rows": rows, "hosts": hosts, "hours": hours, "host": host}
    try:
        for layout, (table, bucket) in LAYOUTS.items():
            store.apply_schema(keyspace, Replication.parse(1), table, bucket)
            print(f"writing {rows} rows into {layout} ...", file=sys.stderr)
            seconds = fill(store, keyspace, table, rows, hosts, hours, now)
            print(f"  {rows / seconds:,.0f} rows/s", file=sys.stderr)
            since = datetime.now(UTC) - timedelta(hours=1)

            results[layout] = {"write_rows_per_s": round(rows / seconds)}
            for name, (low, high) in STATUS_QUESTIONS.items():

                def query_status(t: str = table, s: datetime = since, b=(low, high)) -> list:
                    found = store.select(
                        keyspace, host, "www_access", since=s, table=t, filters=Filters(status=b)
                    )
                    return [r["log_id"] for r in found]

                ours, t_ours = timed(query_status)
                print(f"  full scan of {layout} for --status {name} ...", file=sys.stderr)
                scanned, t_scan = timed(
                    lambda t=table, s=since, b=(low, high): scan_status(
                        store, keyspace, t, host, s, *b
                    ),
                    repeat=1,
                )
                results[layout][f"status_{name}_since_1h"] = {
                    "rows": len(ours),
                    "query_s": round(t_ours, 4),
                    "full_scan_s": round(t_scan, 2),
                    # The same rows (rows of one second may come in another order).
                    "same_answer": sorted(ours) == sorted(scanned),
                }

            def query_count_by(t: str = table) -> dict:
                return dict(store.count_by(keyspace, host, "www_access", "status", table=t))

            ours_by, t_ours_by = timed(query_count_by)
            print(f"  full scan of {layout} for --count-by status ...", file=sys.stderr)
            scan_by, t_scan_by = timed(
                lambda t=table: scan_count_by_status(store, keyspace, t, host), repeat=1
            )
            results[layout].update(
                {
                    "count_by_status": {
                        "answer": {str(k): v for k, v in sorted(ours_by.items(), key=str)},
                        "query_s": round(t_ours_by, 4),
                        "full_scan_s": round(t_scan_by, 2),
                        "same_answer": ours_by == scan_by,
                    },
                }
            )
    finally:
        store.drop_keyspace(keyspace)
        store.close()
    return results


def print_table(results: dict) -> None:
    print(f"\n{results['rows']:,} rows, {results['hosts']} hosts over {results['hours']:g} h;"
          f" questions about {results['host']}")  # fmt: skip
    print(f"{'layout':<10} {'question':<28} {'answer':>10} {'query':>10} {'full scan':>10} same")
    for layout in LAYOUTS:
        r = results[layout]
        for name in STATUS_QUESTIONS:
            a = r[f"status_{name}_since_1h"]
            question = f"--status {name} --since 1h"
            print(f"{layout:<10} {question:<28} {a['rows']:>7} rows {a['query_s']:>9.3f}s"
                  f" {a['full_scan_s']:>9.1f}s {a['same_answer']}")  # fmt: skip
        b = r["count_by_status"]
        total = sum(b["answer"].values())
        print(f"{layout:<10} {'--count-by status':<28} {total:>7} rows"
              f" {b['query_s']:>9.3f}s {b['full_scan_s']:>9.1f}s {b['same_answer']}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = run(args.rows, args.hosts, args.hours)
    print_table(results)
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

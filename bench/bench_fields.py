"""kafka2cassandra with the field columns beside today's table (raw lines only): rows/s.

One topic pre-filled with envelopes of the real corpus (tests/data/access-combined-real.log,
parsed by logpipe's own parser, so every envelope carries its fields, ten source hosts);
the same poller (``bench_poll.child_logpipe``, a process of its own each time) consumes it
into two tables, alternately, ``--rounds`` times each:

* ``field columns``   -- the table ``kafka2cassandra schema`` makes: the tutorial's columns,
  the field columns, which the poller fills, and their SAI indexes;
* ``field columns, no indexes`` -- the same without the SAI indexes (what the indexes cost);
* ``tutorial columns`` -- the baseline: the tutorial's table as its users have it (no
  field columns), where the poller writes the raw line only, as before field columns.

The figure is the median rate per contender. Goal: field columns at most 20% slower
(ratio >= 0.8). Needs the local services.

    .venv/bin/python bench/bench_fields.py [--rows 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_poll

FIELDS = "kafka2cassandra poll, field columns"
NO_INDEXES = "kafka2cassandra poll, field columns, no indexes"
TUTORIAL = "tutorial columns only (today's table)"


def parsed_entries(rows: int) -> list:
    from logpipe.formats.parser import LineParser

    lines = bench_poll.CORPUS.read_bytes().splitlines()
    parsers = [
        LineParser("combined", source=f"www{i}", timezone="UTC") for i in range(bench_poll.SOURCES)
    ]
    return [parsers[i % len(parsers)].parse(lines[i % len(lines)]) for i in range(rows)]


def make_table(store, keyspace: str, statements: int) -> None:
    """The first statements of schema.cql: 2 for the tutorial's keyspace and table, 3 for
    the field columns too, all of them for their indexes as well."""
    from cassandra.query import SimpleStatement

    from logpipe.cassandra import Replication, schema_statements

    for statement in schema_statements(keyspace, Replication.parse(1))[:statements]:
        store.session.execute(SimpleStatement(statement), timeout=60.0)


def run(rows: int, rounds: int = 1, batch_rows: int = 32) -> dict[str, dict]:
    """Both contenders, ``rounds`` times each, alternating; medians (bench/run.py calls this)."""
    from cassandra.query import SimpleStatement

    from logpipe.cassandra import Store
    from logpipe.config.connections import CassandraConnection, KafkaConnection
    from logpipe.envelope import encode
    from logpipe.kafka import create_topic, open_producer

    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    contact_points = os.environ.get("CASSANDRA_CONTACT_POINTS", "127.0.0.1")
    run_id = uuid.uuid4().hex[:8]
    topic = f"bench_fields_{run_id}"
    kafka = KafkaConnection(bootstrap_servers=bootstrap)
    create_topic(kafka, topic, partitions=6)
    producer = open_producer(kafka, topic)
    errors: list = []
    print(f"pre-filling {topic} with {rows} parsed envelopes ...", file=sys.stderr)
    for entry in parsed_entries(rows):
        producer.send(entry.source.encode(), encode(entry), lambda exc: exc and errors.append(exc))
    producer.flush(120)
    producer.close()
    assert not errors, errors[:3]

    store = Store(CassandraConnection(contact_points=contact_points))
    measured: dict[str, list[dict]] = {FIELDS: [], NO_INDEXES: [], TUTORIAL: []}
    statements = {TUTORIAL: 2, NO_INDEXES: 3, FIELDS: 99}
    try:
        for number in range(rounds):
            for label in (TUTORIAL, FIELDS, NO_INDEXES):
                keyspace = f"bench_fields_{run_id}_{number}_{statements[label]}"
                make_table(store, keyspace, statements[label])
                try:
                    print(f"running {label} (round {number + 1}) ...", file=sys.stderr)
                    argv = ["--bootstrap", bootstrap, "--contact-points", contact_points]
                    argv += ["--topic", topic, "--keyspace", keyspace, "--rows", str(rows)]
                    argv += ["--log-id", "event", "--batch-rows", str(batch_rows)]
                    argv += ["--max-in-flight", "256", "--timeout", "600"]
                    result = bench_poll.run_child("logpipe", argv)
                    if label != TUTORIAL:  # the field columns were filled: rows with a status
                        scan = SimpleStatement(
                            f"SELECT status FROM {keyspace}.logs", fetch_size=5000
                        )
                        statuses = store.session.execute(scan, timeout=120.0)
                        result["rows_with_status"] = sum(1 for r in statuses if r.status)
                    measured[label].append(result)
                finally:
                    store.drop_keyspace(keyspace)
    finally:
        store.close()
        bench_poll._delete_topics(bootstrap, [topic, f"{topic}_dlq"])
    out: dict[str, dict] = {}
    for label, results in measured.items():
        out[label] = {
            "rows": results[0]["rows"],
            "rows_per_s": statistics.median(r["rows_per_s"] for r in results),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
            "poller_cpu_us_per_row": statistics.median(
                r["cpu_seconds"] * 1e6 / max(1, r["rows"]) for r in results
            ),
            "rounds": [round(r["rows_per_s"]) for r in results],
        }
        if "rows_with_status" in results[0]:
            out[label]["rows_with_status"] = results[0]["rows_with_status"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-rows", type=int, default=32)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = run(args.rows, args.rounds, args.batch_rows)
    base = results[TUTORIAL]["rows_per_s"]
    print(f"\n{'':42} {'rows/s':>9} {'peak RSS':>9} {'CPU µs/row':>10}  rounds")
    for label, r in results.items():
        print(
            f"{label:42} {r['rows_per_s']:>9.0f} {r['peak_rss_mb']:>7.0f}MB "
            f"{r['poller_cpu_us_per_row']:>10.0f}  {r['rounds']}"
        )
    for label in (FIELDS, NO_INDEXES):
        ratio = results[label]["rows_per_s"] / base if base else float("nan")
        print(f"{label} / tutorial columns: {ratio:.2f} (goal >= 0.80)")
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

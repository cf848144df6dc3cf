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

Beside them, in the same rounds, the node's own ceiling for each table: the Java loader
(``bench/java-loader``, as bench_ceiling.py runs it, ``now()`` ids, its untimed warm-up
rows first) writing the same rows, with the same field values, into the same three
tables; its CPU figures are per row written, warm-up included. Cassandra runs on the same two
cores as the writer, so every contender's figure includes the node's CPU per row (measured
on the node's process over the run) as well as the writer's.

The figure is the median rate per contender. Goal: field columns at most 20% slower
(ratio >= 0.8). Needs the local services.

    .venv/bin/python bench/bench_fields.py [--rows 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_ceiling
import bench_poll
import benchkit

FIELDS = "kafka2cassandra poll, field columns"
NO_INDEXES = "kafka2cassandra poll, field columns, no indexes"
TUTORIAL = "kafka2cassandra poll, tutorial columns only (today's table)"
LOADER_FIELDS = "Java loader, field columns"
LOADER_NO_INDEXES = "Java loader, field columns, no indexes"
LOADER_TUTORIAL = "Java loader, tutorial columns only"
#: contender -> (who writes, statements of schema.cql that make its table).
CONTENDERS: dict[str, tuple[str, int]] = {
    TUTORIAL: ("poll", 2),
    FIELDS: ("poll", 99),
    NO_INDEXES: ("poll", 3),
    LOADER_TUTORIAL: ("java", 2),
    LOADER_FIELDS: ("java", 99),
    LOADER_NO_INDEXES: ("java", 3),
}
#: Each table with fields beside the tutorial's, for the poller and for the loader.
RATIOS = ((FIELDS, TUTORIAL), (NO_INDEXES, TUTORIAL), (LOADER_FIELDS, LOADER_TUTORIAL))
RATIOS += ((LOADER_NO_INDEXES, LOADER_TUTORIAL),)


def parsed_entries(rows: int) -> list:
    from logpipe.formats.parser import LineParser

    lines = bench_poll.CORPUS.read_bytes().splitlines()
    parsers = [
        LineParser("combined", source=f"www{i}", timezone="UTC") for i in range(bench_poll.SOURCES)
    ]
    return [parsers[i % len(parsers)].parse(lines[i % len(lines)]) for i in range(rows)]


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
    entries = parsed_entries(rows)
    for entry in entries:
        producer.send(entry.source.encode(), encode(entry), lambda exc: exc and errors.append(exc))
    producer.flush(120)
    producer.close()
    assert not errors, errors[:3]

    store = Store(CassandraConnection(contact_points=contact_points))
    host, _, port = contact_points.partition(":")
    node = benchkit.listening_pid(int(port or 9042))
    datacenter = store.session.execute("SELECT data_center FROM system.local").one()[0]
    work = Path(tempfile.mkdtemp(prefix="bench-fields-"))
    loader_rows = {
        2: bench_ceiling.write_rows(work / "tutorial.tsv", entries),
        3: bench_ceiling.write_rows(work / "fields.tsv", entries, fields=True),
    }
    contenders = dict(CONTENDERS)
    if shutil.which("mvn") and shutil.which("java"):
        bench_ceiling.build_loader()
    else:
        print("no Maven and JDK 17: the Java loader is left out", file=sys.stderr)
        contenders = {label: c for label, c in contenders.items() if c[0] != "java"}
    measured: dict[str, list[dict]] = {label: [] for label in contenders}
    try:
        for number in range(rounds):
            for label, (writer, statements) in contenders.items():
                keyspace = f"bench_fields_{run_id}_{number}_{writer}_{statements}"
                benchkit.make_table(store, keyspace, statements)
                try:
                    print(f"running {label} (round {number + 1}) ...", file=sys.stderr)
                    node_before = benchkit.cpu_seconds(node)
                    if writer == "java":
                        rows_file = loader_rows[min(statements, 3)]
                        argv = [host, port or "9042", datacenter, keyspace, str(rows_file)]
                        warmup = min(rows, bench_ceiling.WARMUP)
                        result = bench_ceiling.run_loader(
                            [*argv, str(batch_rows), "256", str(warmup)]
                        )
                        result["rows_written"] = result["rows"] + warmup
                    else:
                        argv = ["--bootstrap", bootstrap, "--contact-points", contact_points]
                        argv += ["--topic", topic, "--keyspace", keyspace, "--rows", str(rows)]
                        argv += ["--log-id", "event", "--batch-rows", str(batch_rows)]
                        argv += ["--max-in-flight", "256", "--timeout", "600"]
                        result = bench_poll.run_child("logpipe", argv)
                    result["node_cpu_seconds"] = benchkit.cpu_seconds(node) - node_before
                    result.setdefault("rows_written", result["rows"])
                    if statements > 2:  # the field columns were filled: rows with a status
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
        shutil.rmtree(work, ignore_errors=True)
    out: dict[str, dict] = {}
    for label, results in measured.items():
        out[label] = {
            "rows": results[0]["rows"],
            "rows_per_s": statistics.median(r["rows_per_s"] for r in results),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
            "writer_cpu_us_per_row": statistics.median(
                r["cpu_seconds"] * 1e6 / max(1, r["rows_written"]) for r in results
            ),
            "node_cpu_us_per_row": statistics.median(
                r["node_cpu_seconds"] * 1e6 / max(1, r["rows_written"]) for r in results
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
    print(f"\n{'':60} {'rows/s':>8} {'RSS':>7} {'writer':>7} {'node':>7}  rounds")
    print(f"{'':60} {'':>8} {'':>7} {'µs/row':>7} {'µs/row':>7}")
    for label, r in results.items():
        print(
            f"{label:60} {r['rows_per_s']:>8.0f} {r['peak_rss_mb']:>5.0f}MB "
            f"{r['writer_cpu_us_per_row']:>7.0f} {r['node_cpu_us_per_row']:>7.0f}  {r['rounds']}"
        )
    for label, base in RATIOS:
        if label not in results:
            continue
        ratio = results[label]["rows_per_s"] / results[base]["rows_per_s"]
        print(f"{label} / {base}: {ratio:.2f} (goal >= 0.80)")
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

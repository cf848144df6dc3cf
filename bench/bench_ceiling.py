"""kafka2cassandra as a fraction of what this Cassandra node accepts: the Java loader ceiling.

The ceiling is ``bench/java-loader`` (the DataStax Java driver 4.17, built here with
Maven from Maven Central on first use): the rows kafka2cassandra writes (the real corpus,
as bench_poll.py makes them), the same ``INSERT ... now()``, rows of one partition key
in unlogged batches of 32, 256 requests in flight, asynchronous, no Kafka; and the same
loader sending one row per request. The loader first writes up to ``WARMUP`` of the rows
untimed (the JVM's JIT warming up; they stay in its table beside the timed ones).
Beside it, in the same run and each in a process of its own, ``kafka2cassandra poll``
(bench_poll.py's child, default settings) draining a topic pre-filled with the same
rows, in the variants given; and the peer people deploy today, the DataStax Apache
Kafka Connector on Kafka Connect standalone with one task, draining the same topic
(bench_connector.py: when ``LOGPIPE_BENCH_CONNECTOR_JAR`` and ``LOGPIPE_BENCH_CONNECT_LIB``
point at its jar and Kafka Connect's, else reported unavailable). Every figure: rows/s
from the first request (or record; the connector: its first row written) to the last
acknowledgement, CPU seconds per 10k rows (of the whole process, start-up included; the
loader's over its warm-up rows too; beside it, for the connector and kafka2cassandra,
over their writing alone) and peak RSS. Last, the two clients of kafka2cassandra's fast
path each alone on the same rows: the confluent consumer draining the topic and dropping
the records, and cassandra-driver sending the rows in batches built before its clock
starts; their CPU while working is what those clients cost before any of ours.

    .venv/bin/python bench/bench_ceiling.py --rows 50000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_connector
import bench_poll

LOADER = Path(__file__).resolve().parent / "java-loader"
JAR = LOADER / "target" / "java-loader.jar"
#: Rows the loader writes first, untimed, while the JIT compiles the driver's paths.
WARMUP = 20_000
#: The peer's label in the results.
CONNECTOR = "DataStax Kafka connector, 1 task"
#: Each client kafka2cassandra's fast path uses, alone on the same rows (bench_poll.py's
#: ``consumer`` and ``driver`` children): what those clients cost before any of ours.
CONSUMER_ALONE = "confluent consumer alone (records dropped)"
DRIVER_ALONE = "cassandra-driver alone, pre-built batches of 32"


def build_loader() -> Path:
    """The loader's jar, built with Maven when missing (a minute, the first time)."""
    if not JAR.exists():
        mvn = shutil.which("mvn")
        if mvn is None:
            raise SystemExit("the Java loader needs Maven (mvn) and a JDK 17")
        print("building bench/java-loader with Maven ...", file=sys.stderr)
        subprocess.run([mvn, "-q", "-B", "package"], cwd=LOADER, check=True)
    return JAR


def write_rows(path: Path, entries: list, fields: bool = False) -> Path:
    """The loader's rows file: a header naming the columns, then one row per entry, the
    raw line last; with ``fields``, the field columns kafka2cassandra fills (empty: unset).
    The other_fields map is left out (the loader binds text, int and bigint only; the
    corpus's combined lines have no other field). Tabs and newlines in a field value
    become spaces (the file's separators)."""
    from logpipe.cassandra.columns import FIELD_COLUMNS, field_values

    columns = [name for name, kind in FIELD_COLUMNS if kind in ("text", "int", "bigint")]
    header = ["log_source", "log_type", "log_datetime", *(columns if fields else []), "log"]
    out = ["\t".join(header) + "\n"]
    for e in entries:
        cells = [e.source, e.type, e.datetime]
        if fields:
            values = field_values(e.fields, e.parse_error)
            for name in columns:
                value = values.get(name)
                text = "" if value is None else str(value)
                cells.append(text.replace("\t", " ").replace("\n", " ").replace("\r", " "))
        cells.append(e.log)
        out.append("\t".join(cells) + "\n")
    path.write_text("".join(out), encoding="utf-8")
    return path


def run_loader(args: list[str]) -> dict:
    """One loader run: its JSON line, with CPU seconds and peak RSS of the JVM."""
    proc = subprocess.Popen(["java", "-jar", str(JAR), *args], stdout=subprocess.PIPE)
    out = proc.stdout.read() if proc.stdout else b""
    _pid, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"the Java loader failed with status {status}")
    result = json.loads(out.decode().strip().splitlines()[-1])
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    result["peak_rss_mb"] = usage.ru_maxrss / 1024
    result["rows_per_s"] = result["rows"] / result["seconds"] if result["seconds"] else 0.0
    return result


def run(rows: int, variants: str = "now:32,event:32", rounds: int = 1) -> dict[str, dict]:
    """``rounds`` interleaved rounds of the loader (batches, single rows) and our
    variants; the median of each."""
    from logpipe.cassandra import Replication, Store
    from logpipe.config.connections import CassandraConnection, KafkaConnection
    from logpipe.envelope import encode
    from logpipe.kafka import create_topic, open_producer

    build_loader()
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    contact = os.environ.get("CASSANDRA_CONTACT_POINTS", "127.0.0.1")
    host, _, port = contact.partition(":")
    run_id = uuid.uuid4().hex[:8]
    entries = bench_poll.corpus_entries(rows)
    work = Path(tempfile.mkdtemp(prefix="bench-ceiling-"))
    rows_file = work / "rows.tsv"
    write_rows(rows_file, entries)
    topic = f"ceiling_{run_id}"
    kafka = KafkaConnection(bootstrap_servers=bootstrap)
    create_topic(kafka, topic, partitions=6)
    producer = open_producer(kafka, topic)
    errors: list = []
    for e in entries:
        producer.send(e.source.encode(), encode(e), lambda exc: exc and errors.append(exc))
    producer.flush(120)
    producer.close()
    assert not errors, errors[:3]

    store = Store(CassandraConnection(contact_points=contact))
    datacenter = store.session.execute("SELECT data_center FROM system.local").one()[0]
    contenders: dict[str, tuple[str, list[str]]] = {
        "Java loader, batches of 32 (ceiling)": ("java", ["32"]),
        "Java loader, one row per request": ("java", ["1"]),
    }
    unavailable: dict[str, dict] = {}
    try:
        bench_connector.locate()
        contenders[CONNECTOR] = ("connector", [])
    except bench_connector.Unavailable as exc:
        print(f"{CONNECTOR}: unavailable: {exc}", file=sys.stderr)
        unavailable[CONNECTOR] = {"unavailable": str(exc)}
    for variant in variants.split(","):
        extra, named = bench_poll.parse_variant(variant)
        contenders[f"kafka2cassandra poll {named}"] = ("logpipe", extra)
    if bench_poll.has_confluent():
        contenders[CONSUMER_ALONE] = ("consumer", ["--kafka-client", "confluent"])
    contenders[DRIVER_ALONE] = ("driver", [])
    samples: dict[str, list[dict]] = {label: [] for label in contenders}
    try:
        for _round in range(rounds):
            for index, (label, (kind, extra)) in enumerate(contenders.items()):
                keyspace = f"ceiling_{run_id}_{_round}_{index}"
                store.apply_schema(keyspace, Replication.parse(1))
                try:
                    print(f"running {label} ...", file=sys.stderr)
                    if kind == "java":
                        argv = [host, port or "9042", datacenter, keyspace, str(rows_file)]
                        warmup = str(min(rows, WARMUP))
                        result = run_loader([*argv, extra[0], "256", warmup])
                        # Its CPU time went to the warm-up rows too.
                        result["cpu_rows"] = result["rows"] + int(warmup)
                        samples[label].append(result)
                    elif kind == "connector":
                        warm = min(WARMUP, rows // 2)
                        where = (bootstrap, contact, datacenter)
                        result = bench_connector.run_connector(topic, keyspace, rows, *where, warm)
                        samples[label].append(result)
                    else:
                        argv = ["--bootstrap", bootstrap, "--contact-points", contact]
                        argv += ["--topic", topic, "--keyspace", keyspace, "--rows", str(rows)]
                        samples[label].append(bench_poll.run_child(kind, argv + extra))
                finally:
                    store.drop_keyspace(keyspace)
    finally:
        store.close()
        bench_poll._delete_topics(bootstrap, [topic, f"{topic}_dlq"])
        shutil.rmtree(work, ignore_errors=True)
    results = {}
    for label, runs in samples.items():
        for r in runs:
            cpu_rows = r.get("cpu_rows", r["rows"])
            r["cpu_s_per_10k"] = r["cpu_seconds"] / cpu_rows * 10_000 if cpu_rows else None
            if r.get("cpu_seconds_writing") is not None and r.get("writing_rows"):
                writing = r["cpu_seconds_writing"] / r["writing_rows"]
                r["cpu_s_per_10k_writing"] = writing * 10_000
        runs.sort(key=lambda r: r["rows_per_s"])
        results[label] = runs[len(runs) // 2]
    results.update(unavailable)
    return results


def print_table(results: dict[str, dict]) -> None:
    """Every contender as a fraction of the ceiling and as a multiple of the connector."""
    ceiling = next(iter(results.values()))["rows_per_s"]
    peer = results.get(CONNECTOR, {}).get("rows_per_s")
    print(
        f"\n{'':52} {'rows':>8} {'rows/s':>9} {'CPU s/10k':>10} {'peak RSS':>9}"
        f" {'x ceiling':>9} {'x connector':>11}"
    )
    for label, r in results.items():
        if "unavailable" in r:
            print(f"{label:52} unavailable: {r['unavailable']}")
            continue
        cpu = r.get("cpu_s_per_10k")
        writing = r.get("cpu_s_per_10k_writing")
        times_peer = f"{r['rows_per_s'] / peer:>11.2f}" if peer else f"{'n/a':>11}"
        print(
            f"{label:52} {r['rows']:>8} {r['rows_per_s']:>9.0f} "
            f"{cpu if cpu is not None else float('nan'):>10.3f} "
            f"{r['peak_rss_mb']:>7.0f}MB {r['rows_per_s'] / ceiling:>9.2f} {times_peer}"
            + (f"  (CPU s/10k while writing: {writing:.3f})" if writing is not None else "")
            + (
                f"  (from its first row: {r['cold_rows_per_s']:.0f} rows/s)"
                if "cold_rows_per_s" in r
                else ""
            )
            + (f"  SHORT by {r['shortfall']} of {r['sent']} rows" if r.get("shortfall") else "")
            + (f"  FAILED: {r['failed']}" if r.get("failed") else "")
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--variants", default="now:32,event:32", help="LOG_ID:BATCH_ROWS[:KAFKA_CLIENT],..."
    )
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = run(args.rows, args.variants, args.rounds)
    print_table(results)
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

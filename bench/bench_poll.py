"""kafka2cassandra throughput: rows/s and peak RSS from a pre-filled topic into Cassandra.

Side by side, in one run, each in a process of its own (so peak RSS is its own):

* ``logpipe``  -- our poller (``logpipe.kafka2cassandra.poller.Poller``), from a topic pre-filled
  envelopes of the real corpus (tests/data/access-combined-real.log, repeated with ten
  source hosts up to ``--rows``), in one or more configurations (``--variants``);
* ``tutorial`` -- the tutorial's poller (bench/baselines/tutorial_poller.py) on the same
  lines in its own twice-encoded form, over ``--tutorial-rows`` (it is slow);
* ``ceiling``  -- cassandra-driver alone: the same rows, prepared ``INSERT ... now()``,
  ``execute_concurrent_with_args`` (concurrency 256), no Kafka at all.

Rates count from the first record (or row) to the last acknowledged write, so connection
and group-join time are left out for everybody. Goals: logpipe >= 20x tutorial and
>= 0.8x ceiling. Needs the local services (``make services-up``); prints a table and,
with ``--json``, the raw numbers.

    .venv/bin/python bench/bench_poll.py                 # 100k rows
    .venv/bin/python bench/bench_poll.py --rows 20000    # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data" / "access-combined-real.log"
SOURCES = 10
_STAMP = re.compile(r"\[([^\]]+)\]")
#: The poller's insert of the tutorial's columns (``--log-id now``), for the children
#: that write the rows without it.
INSERT_NOW = (
    "INSERT INTO logs (log_source, log_type, log_datetime, log_id, log) VALUES (?, ?, ?, now(), ?)"
)


def corpus_entries(rows: int) -> list:
    from logpipe.envelope import LogEntry

    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    out = []
    for i in range(rows):
        line = lines[i % len(lines)]
        when = datetime.strptime(_STAMP.search(line).group(1), "%d/%b/%Y:%H:%M:%S %z")
        out.append(LogEntry(f"www{i % SOURCES}", "www_access", when.isoformat(), line, {}))
    return out


def legacy_value(entry) -> bytes:
    """The tutorial's forwarder's message: json.dumps of json.dumps, line in quotes."""
    when = datetime.fromisoformat(entry.datetime).strftime("%Y-%m-%d %H:%M")
    inner = {"datetime": when, "source": entry.source, "type": entry.type, "log": f"'{entry.log}'"}
    return json.dumps(json.dumps({"log": inner})).encode()


# --- children: each measures itself and prints one JSON line -----------------------------


def child_logpipe(args: argparse.Namespace) -> dict:
    from logpipe.config.connections import CassandraConnection, KafkaConnection
    from logpipe.kafka import ConsumerSettings
    from logpipe.kafka2cassandra.poller import Poller, PollerConfig

    fetching = {}
    if args.fetch_max_wait_ms is not None:
        fetching["fetch_max_wait_ms"] = args.fetch_max_wait_ms
    config = PollerConfig(
        topic=args.topic,
        keyspace=args.keyspace,
        log_id_mode=args.log_id,
        dlq_topic=f"{args.topic}_dlq",
        batch_rows=args.batch_rows,
        max_in_flight=args.max_in_flight,
        consumer=ConsumerSettings(
            group_id=f"bench_{uuid.uuid4().hex[:8]}", client=args.kafka_client, **fetching
        ),
    )
    poller = Poller(
        config,
        KafkaConnection(bootstrap_servers=args.bootstrap),
        CassandraConnection(contact_points=args.contact_points),
    )
    runner = threading.Thread(target=poller.run)
    runner.start()
    consumed, written = poller.metrics.consumed, poller.metrics.written
    first = None
    cpu_first = 0.0
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if first is None and consumed._value.get() > 0:
            first, cpu_first = time.monotonic(), time.process_time()
        if written._value.get() >= args.rows:
            break
        time.sleep(0.005)
    end, cpu_end = time.monotonic(), time.process_time()
    rows = int(written._value.get())
    poller.stop()
    runner.join(60)
    result: dict = {"rows": rows, "seconds": end - (first or end)}
    if first is not None:
        # CPU while draining (all threads), start-up and shutdown left out
        result["cpu_seconds_writing"] = cpu_end - cpu_first
        result["writing_rows"] = rows
    return result


def child_tutorial(args: argparse.Namespace) -> dict:
    sys.path.insert(0, str(ROOT / "bench"))
    from baselines.tutorial_poller import run

    with open(os.devnull, "w") as sink:
        rows, seconds = run(
            args.bootstrap, args.topic, args.contact_points, args.keyspace, args.rows, sink
        )
    return {"rows": rows, "seconds": seconds}


def child_ceiling(args: argparse.Namespace) -> dict:
    from cassandra.cluster import Cluster
    from cassandra.concurrent import execute_concurrent_with_args

    rows = [(e.source, e.type, e.datetime, e.log) for e in corpus_entries(args.rows)]
    cluster = Cluster([args.contact_points])
    session = cluster.connect(args.keyspace)
    insert = session.prepare(INSERT_NOW)
    started = time.monotonic()
    results = execute_concurrent_with_args(session, insert, rows, concurrency=256)
    seconds = time.monotonic() - started
    cluster.shutdown()
    return {"rows": sum(1 for ok, _ in results if ok), "seconds": seconds}


def child_consumer(args: argparse.Namespace) -> dict:
    """The Kafka consumer alone: the topic drained through logpipe's consumer (the same
    client, settings and records the poller gets), each record dropped. What reading the
    records costs before anything is done with them."""
    from logpipe.config.connections import KafkaConnection
    from logpipe.kafka import ConsumerSettings, open_consumer

    settings = ConsumerSettings(group_id=f"bench_{uuid.uuid4().hex[:8]}", client=args.kafka_client)
    kafka = KafkaConnection(bootstrap_servers=args.bootstrap)
    consumer = open_consumer(kafka, args.topic, settings)
    got, first, cpu_first = 0, None, 0.0
    deadline = time.monotonic() + args.timeout
    while got < args.rows and time.monotonic() < deadline:
        records = consumer.poll(0.2, max_records=settings.max_poll_records)
        if records and first is None:
            first, cpu_first = time.monotonic(), time.process_time()
        got += len(records)
    end, cpu_end = time.monotonic(), time.process_time()
    consumer.close(timeout=5.0)
    if first is None:
        return {"rows": 0, "seconds": 0.0}
    return {
        "rows": got,
        "seconds": end - first,
        "cpu_seconds_writing": cpu_end - cpu_first,
        "writing_rows": got,
    }


def child_driver(args: argparse.Namespace) -> dict:
    """cassandra-driver alone: the same rows, the poller's ``INSERT ... now()``, in
    unlogged batches of ``--batch-rows`` rows of one partition key built before the clock
    starts (values bound the driver's way), ``--max-in-flight`` requests outstanding, no
    Kafka. What sending the rows costs this client, whoever builds them."""
    from cassandra import ConsistencyLevel
    from cassandra.cluster import Cluster
    from cassandra.query import BatchStatement, BatchType

    cluster = Cluster([args.contact_points])
    session = cluster.connect(args.keyspace)
    insert = session.prepare(INSERT_NOW)
    groups: dict[tuple[str, str], list] = {}
    for e in corpus_entries(args.rows):
        groups.setdefault((e.source, e.type), []).append((e.source, e.type, e.datetime, e.log))
    batches = []
    for rows in groups.values():
        for start in range(0, len(rows), args.batch_rows):
            chunk = rows[start : start + args.batch_rows]
            batch = BatchStatement(BatchType.UNLOGGED, consistency_level=ConsistencyLevel.ONE)
            for row in chunk:
                batch.add(insert, row)
            batches.append((batch, len(chunk)))
    room = threading.Semaphore(args.max_in_flight)
    lock, done = threading.Lock(), threading.Event()
    state = {"left": len(batches), "rows": 0}

    def finished(_result: object, count: int, ok: bool) -> None:
        room.release()
        with lock:
            state["rows"] += count if ok else 0
            state["left"] -= 1
            if state["left"] == 0:
                done.set()

    started, cpu_started = time.monotonic(), time.process_time()
    for batch, count in batches:
        room.acquire()
        future = session.execute_async(batch)
        future.add_callbacks(
            finished, finished, callback_args=(count, True), errback_args=(count, False)
        )
    done.wait(args.timeout)
    end, cpu_end = time.monotonic(), time.process_time()
    cluster.shutdown()
    return {
        "rows": state["rows"],
        "seconds": end - started,
        "cpu_seconds_writing": cpu_end - cpu_started,
        "writing_rows": state["rows"],
    }


def parse_variant(variant: str) -> tuple[list[str], str]:
    """``LOG_ID:BATCH_ROWS[:CLIENT]`` (``now:32``, ``now:32:confluent``) -> the child's
    arguments and the variant's label, named as ``kafka2cassandra poll``'s flags."""
    log_id, batch, *rest = variant.split(":")
    extra = ["--log-id", log_id, "--batch-rows", batch]
    label = f"--log-id {log_id} --batch-rows {batch}"
    if rest and rest[0] != "kafka-python":
        extra += ["--kafka-client", rest[0]]
        label += f" --kafka-client {rest[0]}"
    return extra, label


def has_confluent() -> bool:
    """Whether the confluent client is installed (``pip install 'logpipe[fast]'``)."""
    import importlib.util

    return importlib.util.find_spec("confluent_kafka") is not None


CHILDREN = {
    "logpipe": child_logpipe,
    "tutorial": child_tutorial,
    "ceiling": child_ceiling,
    "consumer": child_consumer,
    "driver": child_driver,
}


# --- parent ----------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM): unlike ru_maxrss of a child, it does
    not include the parent's memory inherited at fork."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_child(name: str, argv: list[str]) -> dict:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", name, *argv], stdout=subprocess.PIPE
    )
    out = proc.stdout.read() if proc.stdout else b""
    _pid, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"{name} failed with status {status}")
    result = json.loads(out.decode().strip().splitlines()[-1])
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    result["rows_per_s"] = result["rows"] / result["seconds"] if result["seconds"] else 0.0
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--tutorial-rows", type=int, default=5_000)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--contact-points", default="127.0.0.1")
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument(
        "--variants",
        default="now:32,now:1,event:32",
        help="logpipe configurations, LOG_ID:BATCH_ROWS[:KAFKA_CLIENT], comma separated "
        "(now:32:confluent: the confluent consumer)",
    )
    parser.add_argument("--max-in-flight", type=int, default=256)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", choices=sorted(CHILDREN))
    parser.add_argument("--topic")
    parser.add_argument("--keyspace")
    parser.add_argument("--log-id", default="now")
    parser.add_argument("--batch-rows", type=int, default=32)
    parser.add_argument("--fetch-max-wait-ms", type=int, help="(child) instead of ours")
    parser.add_argument("--kafka-client", default="kafka-python", help="(child) consumer client")
    args = parser.parse_args()

    if args.child:
        result = CHILDREN[args.child](args)
        result["peak_rss_mb"] = peak_rss_mb()
        print(json.dumps(result), flush=True)
        return

    results = measure_all(args)
    print_table(results)
    if args.json:
        print(json.dumps(results, indent=2))


def run(rows: int, tutorial_rows: int, variants: str = "now:32") -> dict[str, dict]:
    """One round of every contender on a freshly filled topic (bench/run.py calls this)."""
    args = argparse.Namespace(
        rows=rows,
        tutorial_rows=tutorial_rows,
        bootstrap=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        contact_points=os.environ.get("CASSANDRA_CONTACT_POINTS", "127.0.0.1"),
        partitions=6,
        variants=variants,
        max_in_flight=256,
        timeout=600.0,
    )
    return measure_all(args)


def measure_all(args: argparse.Namespace) -> dict[str, dict]:
    """Fill the topics, then run the ceiling, our variants and the tutorial in turn."""
    from logpipe.cassandra import Replication, Store
    from logpipe.config.connections import CassandraConnection, KafkaConnection
    from logpipe.envelope import encode
    from logpipe.kafka import create_topic, open_producer

    run_id = uuid.uuid4().hex[:8]
    kafka = KafkaConnection(bootstrap_servers=args.bootstrap)
    entries = corpus_entries(args.rows)
    topic, legacy_topic = f"bench_{run_id}", f"bench_{run_id}_tutorial"

    def fill(name: str, values: list[tuple[bytes, bytes]]) -> None:
        create_topic(kafka, name, partitions=args.partitions)
        producer = open_producer(kafka, name)
        errors: list = []
        for key, value in values:
            producer.send(key, value, lambda exc: exc and errors.append(exc))
        producer.flush(120)
        producer.close()
        assert not errors, errors[:3]

    print(f"pre-filling {topic} with {args.rows} envelopes ...", file=sys.stderr)
    fill(topic, [(e.source.encode(), encode(e)) for e in entries])
    tutorial_rows = min(args.tutorial_rows, args.rows)
    fill(legacy_topic, [(b"log", legacy_value(e)) for e in entries[:tutorial_rows]])

    store = Store(CassandraConnection(contact_points=args.contact_points))
    common = ["--bootstrap", args.bootstrap, "--contact-points", args.contact_points]
    results: dict[str, dict] = {}

    def measure(label: str, child: str, topic_name: str, rows: int, extra: list[str]) -> None:
        keyspace = f"bench_{run_id}_{len(results)}"
        store.apply_schema(keyspace, Replication.parse(1))
        try:
            print(f"running {label} ...", file=sys.stderr)
            argv = [*common, "--topic", topic_name, "--keyspace", keyspace]
            argv += ["--rows", str(rows), "--timeout", str(args.timeout), *extra]
            results[label] = run_child(child, argv)
        finally:
            store.drop_keyspace(keyspace)

    try:
        measure("ceiling (execute_concurrent)", "ceiling", topic, args.rows, [])
        for variant in args.variants.split(","):
            extra, named = parse_variant(variant)
            extra += ["--max-in-flight", str(args.max_in_flight)]
            label = f"logpipe {named}"
            while label in results:
                label += "'"
            measure(
                label,
                "logpipe",
                topic,
                args.rows,
                extra,
            )
        measure("tutorial poller", "tutorial", legacy_topic, tutorial_rows, [])
    finally:
        store.close()
        _delete_topics(args.bootstrap, [topic, legacy_topic, f"{topic}_dlq"])
    return results


def _delete_topics(bootstrap: str, names: list[str]) -> None:
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="logpipe-bench")
    try:
        existing = set(admin.list_topics())
        gone = [name for name in names if name in existing]
        if gone:
            admin.delete_topics(gone, timeout_ms=30_000)
    except Exception as exc:
        print(f"could not delete topics {names}: {exc}", file=sys.stderr)
    finally:
        admin.close()


def print_table(results: dict[str, dict]) -> None:
    tutorial = results["tutorial poller"]["rows_per_s"]
    ceiling = results["ceiling (execute_concurrent)"]["rows_per_s"]
    print(
        f"\n{'':36} {'rows':>8} {'seconds':>8} {'rows/s':>9} {'peak RSS':>9} {'CPU s':>7}"
        f" {'x tut':>7} {'x ceil':>7}"
    )
    for label, r in results.items():
        print(
            f"{label:36} {r['rows']:>8} {r['seconds']:>8.2f} {r['rows_per_s']:>9.0f} "
            f"{r['peak_rss_mb']:>7.0f}MB {r['cpu_seconds']:>7.1f} "
            f"{r['rows_per_s'] / tutorial:>7.1f} {r['rows_per_s'] / ceiling:>7.2f}"
        )


if __name__ == "__main__":
    main()

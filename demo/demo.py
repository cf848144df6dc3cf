"""``make demo``: both daemons on real Apache lines, against the local Kafka and Cassandra.

It creates the topic and the schema, starts ``kafka2cassandra poll`` and one
``logs2kafka tail`` per demo web host, appends real access-log lines (from the
Apache-2.0 corpus in tests/data, stamped with the current time and a sequence number)
at a steady rate, then shows what an operator would ask: rows per source, the
tutorial's count and time-window queries through ``kafka2cassandra query``, the
throughput, and the delay from append to row. The daemons are stopped cleanly at the
end; the local services keep running.

``--cluster`` (``make demo-cluster``) runs the same on the local three-node cluster
(``services/ctl --cluster``): the topic with the brokers' replication (3, with
min.insync.replicas=2), the keyspace with replication 3, writes at LOCAL_QUORUM.

With ``--prometheus`` (``make demo DEMO_ARGS=--prometheus``) a local Prometheus (Debian's
package) scrapes the three daemons with the rules of deploy/prometheus loaded; the demo
prints its address and, at the end, the alerts that fired.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from logpipe.cassandra import Store
from logpipe.config.connections import CassandraConnection, KafkaConnection
from logpipe.kafka import create_topic
from logpipe_testkit import readiness
from logpipe_testkit.ports import free_port
from logpipe_testkit.prometheus import prometheus
from logpipe_testkit.traffic import load_lines, sequence_of, stamp

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data" / "access-combined-real.log"
WORK = ROOT / ".demo"
BIN = Path(sys.executable).parent
SOURCES = ("www1", "www2")


def say(text: str) -> None:
    print(text, flush=True)


def wait_ready(port: int, name: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    try:
        readiness.wait_ready(port, timeout, name=name, alive=lambda: proc.poll() is None)
    except readiness.NotReady as exc:
        raise SystemExit(f"{exc}; see {WORK}/{name}.log") from None


def start(name: str, args: list[str], port: int) -> subprocess.Popen[bytes]:
    log = (WORK / f"{name}.log").open("wb")
    env = {**os.environ, "LOG_FORMAT": "json", "METRICS_PORT": str(port)}
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)


def stop(name: str, proc: subprocess.Popen[bytes]) -> None:
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    say(f"  {name:<22} exit {code} after {time.monotonic() - started:.1f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=250.0, help="lines per second, all hosts")
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--topic", default="www_logs")
    parser.add_argument("--keyspace", default="admintome")
    parser.add_argument(
        "--cluster", action="store_true", help="on the three-node cluster of services/ctl"
    )
    parser.add_argument(
        "--prometheus",
        action="store_true",
        help="scrape the daemons with a local Prometheus and its alert rules; print the "
        "link and the alerts that fired",
    )
    opts = parser.parse_args()

    endpoints: list[str] = []
    replication, consistency = "1", "ONE"
    kafka = KafkaConnection()
    cassandra = CassandraConnection(keyspace=opts.keyspace)
    if opts.cluster:
        say("== the cluster: services/ctl up --cluster")
        up = subprocess.run(
            [str(ROOT / "services" / "ctl"), "--json", "--cluster", "up"],
            check=True,
            capture_output=True,
            text=True,
        )
        cluster = json.loads(up.stdout.strip().splitlines()[-1])
        say(f"  healthy: {cluster['health']}")
        bootstrap, contact = cluster["kafka_bootstrap"], cluster["cassandra_contact_points"]
        say(f"  kafka {bootstrap}\n  cassandra {contact}")
        kafka = KafkaConnection(bootstrap_servers=bootstrap)
        cassandra = CassandraConnection(contact_points=contact, keyspace=opts.keyspace)
        endpoints = ["--bootstrap-servers", bootstrap, "--contact-points", contact]
        replication, consistency = "3", "LOCAL_QUORUM"
    # logs2kafka takes no contact points: only the Kafka half of the endpoints
    kafka_endpoints = endpoints[:2]
    cassandra_endpoints = endpoints[2:]
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir()
    run = os.urandom(4).hex()

    say(f"== topic {opts.topic} ({opts.partitions} partitions) and schema {opts.keyspace}.logs")
    created = create_topic(
        kafka,
        opts.topic,
        partitions=opts.partitions,
        replication_factor=None if opts.cluster else 1,  # the cluster's brokers say 3
    )
    say(f"  topic {'created' if created else 'already there'}")
    subprocess.run(
        [
            BIN / "kafka2cassandra",
            "schema",
            "--keyspace",
            opts.keyspace,
            "--replication-factor",
            replication,
            "--log-format",
            "text",
            *cassandra_endpoints,
        ],
        check=True,
    )

    say("== starting the daemons")
    procs: dict[str, subprocess.Popen[bytes]] = {}
    port = free_port()
    procs["kafka2cassandra"] = start(
        "kafka2cassandra",
        [
            str(BIN / "kafka2cassandra"),
            "poll",
            "--topic",
            opts.topic,
            "--keyspace",
            opts.keyspace,
            "--consistency",
            consistency,
            *endpoints,
        ],
        port,
    )
    ports = {"kafka2cassandra": port}
    logs: dict[str, Path] = {}
    for source in SOURCES:
        logs[source] = WORK / source / "access.log"
        logs[source].parent.mkdir()
        logs[source].touch()
        name = f"logs2kafka-{source}"
        ports[name] = free_port()
        procs[name] = start(
            name,
            [
                str(BIN / "logs2kafka"),
                "tail",
                str(logs[source]),
                "--source",
                source,
                "--topic",
                opts.topic,
                "--state-dir",
                str(WORK / source / "state"),
                *kafka_endpoints,
            ],
            ports[name],
        )
    try:
        for name, proc in procs.items():
            wait_ready(ports[name], name, proc, timeout=60)
            say(f"  {name:<22} ready (metrics on 127.0.0.1:{ports[name]}/metrics)")
        if not opts.prometheus:
            return demo(opts, run, logs, cassandra, procs, cassandra_endpoints)
        targets = {
            "kafka2cassandra": [ports["kafka2cassandra"]],
            "logs2kafka": [ports[name] for name in ports if name.startswith("logs2kafka")],
        }
        with prometheus(WORK / "prometheus", targets) as server:
            say(f"== Prometheus at {server.url} (alerts: {server.url}/alerts)")
            code = demo(opts, run, logs, cassandra, procs, cassandra_endpoints)
            time.sleep(3)  # a last scrape and rule evaluation
            firing = server.firing()
            names = ", ".join(sorted(a["labels"]["alertname"] for a in firing)) or "none"
            say(f"== alerts that fired: {names}")
            return code
    finally:
        say("== stopping the daemons (SIGTERM)")
        for name, proc in procs.items():
            stop(name, proc)
        if opts.cluster:
            say("The cluster keeps running: `make cluster-down` stops it.")
        else:
            say("The local Kafka and Cassandra keep running: `make services-down` stops them.")


def demo(
    opts: argparse.Namespace,
    run: str,
    logs: dict[str, Path],
    cassandra: CassandraConnection,
    procs: dict[str, subprocess.Popen[bytes]],
    cassandra_endpoints: list[str],
) -> int:
    corpus = load_lines(CORPUS)
    total = int(opts.seconds * opts.rate)
    say(f"== appending {total} real lines at {opts.rate:.0f} lines/s for {opts.seconds:.0f} s")
    handles = {source: path.open("ab", buffering=0) for source, path in logs.items()}
    appended: dict[int, float] = {}
    per_source = dict.fromkeys(SOURCES, 0)
    begin = time.time()
    run_start = datetime.now(UTC) - timedelta(seconds=1)
    for seq in range(total):
        due = begin + seq / opts.rate
        delay = due - time.time()
        if delay > 0:
            time.sleep(delay)
        source = SOURCES[seq % 3 != 0]  # one third www1, two thirds www2
        line = stamp(corpus[seq % len(corpus)], run, seq, datetime.now(UTC))
        appended[seq] = time.time()
        handles[source].write(line + b"\n")
        per_source[source] += 1
    for handle in handles.values():
        handle.close()
    append_seconds = time.time() - begin

    say("== waiting for every line to arrive in Cassandra")
    arrived: dict[int, float] = {}
    deadline = time.time() + 90
    with Store(cassandra, consistency="ONE") as store:
        while len(arrived) < total and time.time() < deadline:
            for source in SOURCES:
                for row in store.select(opts.keyspace, source, "www_access", since=run_start):
                    seq = sequence_of(row["log"], run)
                    if seq is not None:
                        arrived[seq] = row["log_time"].timestamp()
            if len(arrived) < total:
                time.sleep(0.5)
        last_row = max(arrived.values(), default=begin)
        say("== rows per source (whole table)")
        for source in SOURCES:
            count = store.count(opts.keyspace, source, "www_access")
            say(f"  {source}: {count} rows (this run appended {per_source[source]})")

    query = [
        str(BIN / "kafka2cassandra"),
        "query",
        "--keyspace",
        opts.keyspace,
        "--log-format",
        "text",
        "--log-level",
        "warning",
        *cassandra_endpoints,
    ]
    say("== the tutorial's count: select count(*) ... where log_source = 'www2' ...")
    say("$ kafka2cassandra query --source www2 --count")
    subprocess.run([*query, "--source", "www2", "--count"], check=True)
    since = run_start.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    until = (datetime.now(UTC) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S+00:00")
    say("== the tutorial's time window: log_id >= maxTimeuuid(since) and < minTimeuuid(until)")
    say(f"$ kafka2cassandra query --source www2 --since {since} --until {until} --limit 5")
    subprocess.run(
        [*query, "--source", "www2", "--since", since, "--until", until, "--limit", "5"],
        check=True,
    )

    missing = total - len(arrived)
    delays = sorted(max(0.0, arrived[s] - appended[s]) * 1000 for s in arrived)
    say("== what this run saw")
    say(
        f"  lines appended      {total} in {append_seconds:.1f} s "
        f"({total / append_seconds:.0f} lines/s)"
    )
    say(f"  rows arrived        {len(arrived)}  missing {missing}")
    if delays:
        span = max(last_row - begin, 1e-9)
        p50 = statistics.median(delays)
        p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
        say(f"  rows/s end to end   {len(arrived) / span:.0f}")
        say(f"  append -> row delay p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {delays[-1]:.0f} ms")
    for name, proc in procs.items():
        if proc.poll() is not None:
            say(f"  {name} exited early with {proc.returncode}")
            return 1
    return 0 if missing == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

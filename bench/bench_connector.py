"""The DataStax Apache Kafka Connector (Cassandra sink) draining the bench's topic: the peer.

What people deploy today to move a Kafka topic into Cassandra: the connector
(datastax/kafka-sink, Apache-2.0) on Kafka Connect standalone, one task, its defaults
(unlogged batches of up to 32 rows of one partition key, 500 requests in flight). It is
not on Maven Central, so the bench cannot fetch it: it runs when two variables point at
a built connector jar and at a folder of Kafka Connect's jars (docs/benchmarks.md says
how to build both), and is reported as unavailable otherwise:

* ``LOGPIPE_BENCH_CONNECTOR_JAR``: the connector's shaded jar
  (``dist/target/kafka-connect-cassandra-sink-<version>.jar``);
* ``LOGPIPE_BENCH_CONNECT_LIB``: a folder holding ``connect-runtime``, ``connect-json``,
  ``connect-transforms`` and their runtime dependencies (a log4j2 backend among them).

The connector maps only top-level fields of a record, so an ``ExtractField$Value``
transform lifts the envelope's ``log`` object first; then ``log_source=value.source,
log_type=value.type, log_datetime=value.datetime, log_id=now(), log=value.log``, into
the table kafka2cassandra writes (JSON values without schemas, keys as strings).

Measured like the other contenders, in a process of its own (the JVM, started here, so
``os.wait4`` gives its CPU time and peak RSS): the sink's consumer group commits its
offsets every ``FLUSH_MS``; once they cover every record of the topic the worker is
stopped and the table read once: the row count (a shortfall is reported, never hidden)
and each row's ``toTimestamp(log_id)``, which give rows/s (JVM start, plugin scanning
and the group join left out, as for the others). The connector makes the timeuuid of
``now()`` itself as it binds the row (this machine's clock, the same as the node's), so
the span misses the last batch's round trip, a few milliseconds, in its favour. Like the
Java loader, the JVM is given a warm-up for its JIT: the rate runs from the row after
the first ``warmup`` rows to the last (``cold_rows_per_s``: from the first). CPU seconds
are those of the whole JVM, start-up included like the others'; ``cpu_seconds_writing``
is its CPU time over the timed rows (sampled every 0.2 s, so a little more than that),
without the start-up (plugin scanning, the JIT).

    .venv/bin/python bench/bench_ceiling.py --rows 20000   # beside the others
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from logpipe_testkit.ports import free_port

JAR_VARIABLE = "LOGPIPE_BENCH_CONNECTOR_JAR"
LIB_VARIABLE = "LOGPIPE_BENCH_CONNECT_LIB"
CONNECTOR_CLASS = "com.datastax.oss.kafka.sink.CassandraSinkConnector"
EXTRACT_FIELD = "org.apache.kafka.connect.transforms.ExtractField$Value"
#: The JVM's heap: a small one (its peak RSS is part of the comparison).
HEAP = ["-Xms256m", "-Xmx512m"]
#: How often the worker commits the sink's offsets (the default is a minute): the
#: resolution of "every record is in", not of the rate (that comes from the table).
FLUSH_MS = 500
MAPPING = (
    "log_source=value.source, log_type=value.type, log_datetime=value.datetime, "
    "log_id=now(), log=value.log"
)


class Unavailable(RuntimeError):
    """The connector cannot run here; the message says why (the bench reports it)."""


def locate() -> tuple[Path, Path]:
    """(connector jar, Kafka Connect lib folder), or Unavailable saying what is missing."""
    jar, lib = os.environ.get(JAR_VARIABLE), os.environ.get(LIB_VARIABLE)
    if not jar or not lib:
        unset = [name for name, value in ((JAR_VARIABLE, jar), (LIB_VARIABLE, lib)) if not value]
        raise Unavailable(f"{' and '.join(unset)} not set (docs/benchmarks.md: how to build)")
    jar_path, lib_path = Path(jar), Path(lib)
    if not jar_path.is_file():
        raise Unavailable(f"{JAR_VARIABLE}={jar} is not a file")
    if not any(lib_path.glob("connect-runtime-*.jar")):
        raise Unavailable(f"{LIB_VARIABLE}={lib} holds no connect-runtime-*.jar")
    return jar_path, lib_path


def _properties(values: dict[str, Any]) -> str:
    return "".join(f"{key}={value}\n" for key, value in values.items())


def write_config(
    work: Path, jar: Path, name: str, topic: str, keyspace: str, bootstrap: str,
    contact: str, datacenter: str,
) -> tuple[Path, Path, Path, int]:  # fmt: skip
    """The worker's, the sink's and log4j2's files in ``work``; and the REST port."""
    host, _, port = contact.partition(":")
    plugins = work / "plugins"
    plugins.mkdir()
    # A folder of its own on plugin.path, as deployed: the jar loads in its own class loader.
    (plugins / jar.name).symlink_to(jar.resolve())
    rest_port = free_port()
    worker = work / "worker.properties"
    worker.write_text(
        _properties(
            {
                "bootstrap.servers": bootstrap,
                "key.converter": "org.apache.kafka.connect.storage.StringConverter",
                "value.converter": "org.apache.kafka.connect.json.JsonConverter",
                "value.converter.schemas.enable": "false",
                "offset.storage.file.filename": work / "connect.offsets",
                "offset.flush.interval.ms": FLUSH_MS,
                "plugin.path": plugins,
                "listeners": f"http://127.0.0.1:{rest_port}",
                "consumer.auto.offset.reset": "earliest",
            }
        )
    )
    sink = work / "sink.properties"
    table = f"topic.{topic}.{keyspace}.logs"
    sink.write_text(
        _properties(
            {
                "name": name,
                "connector.class": CONNECTOR_CLASS,
                "tasks.max": 1,
                "topics": topic,
                "contactPoints": host,
                "port": port or 9042,
                "loadBalancing.localDc": datacenter,
                "transforms": "envelope",
                "transforms.envelope.type": EXTRACT_FIELD,
                "transforms.envelope.field": "log",
                f"{table}.mapping": MAPPING,
            }
        )
    )
    log4j = work / "log4j2.properties"
    log4j.write_text(
        _properties(
            {
                "appender.file.type": "File",
                "appender.file.name": "file",
                "appender.file.fileName": work / "connect.log",
                "appender.file.layout.type": "PatternLayout",
                "appender.file.layout.pattern": "%d %p %c{1} %m%n",
                "rootLogger.level": "WARN",
                "rootLogger.appenderRef.file.ref": "file",
            }
        )
    )
    return worker, sink, log4j, rest_port


def _log_tail(work: Path, lines: int = 15) -> str:
    """The worker's ERROR lines and their causes (else its last lines), then what the JVM
    printed itself (a JVM that could not start has no log of its own)."""
    text = []
    for name in ("connect.log", "jvm.out"):
        path = work / name
        if path.exists():
            logged = path.read_text(errors="replace").splitlines()
            errors = [x for x in logged if " ERROR " in x or x.startswith("Caused by")]
            text += (errors or logged)[-lines:]
    return " | ".join(text)[-1500:] if text else "(no log)"


def _task_state(rest_port: int, name: str) -> str | None:
    """The task's state from the worker's REST API (RUNNING, FAILED...), None if not yet."""
    import json
    import urllib.request

    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{rest_port}/connectors/{name}/status", timeout=2
        ) as response:
            tasks = json.loads(response.read()).get("tasks") or []
    except OSError:
        return None
    return tasks[0].get("state") if tasks else None


def _between(samples: list[tuple[float, float]], start: float, end: float) -> float | None:
    """CPU seconds used from ``start`` to ``end`` (epoch seconds), from the samples of
    (time, CPU so far) around them; None when the samples do not cover both."""
    before = [cpu for when, cpu in samples if when <= start]
    after = [cpu for when, cpu in samples if when >= end]
    if not before or not after:
        return None
    return after[0] - before[-1]


def _committed(admin: Any, group: str) -> int:
    """Records of the topic the sink's group has committed (offsets summed)."""
    try:
        offsets = admin.list_group_offsets({group: None}).get(group) or {}
    except Exception:  # the group does not exist until the task joins
        return 0
    return sum(max(o.offset, 0) for o in offsets.values())


def _reaped(pid: int) -> tuple[int, Any] | None:
    """(exit status, resource usage) of the worker if it has exited (reaped here, so that
    its CPU time and peak RSS are read), else None."""
    done, status, usage = os.wait4(pid, os.WNOHANG)
    return (status, usage) if done else None


def _stop(pid: int, grace: float = 60.0) -> Any:
    """Stop the worker (SIGTERM: it commits and leaves its group; SIGKILL after ``grace``
    seconds) and reap it; its resource usage (CPU time, peak RSS)."""
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        exited = _reaped(pid)
        if exited:
            return exited[1]
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    return os.wait4(pid, 0)[2]


def run_connector(
    topic: str,
    keyspace: str,
    rows: int,
    bootstrap: str,
    contact: str,
    datacenter: str,
    warmup: int = 0,
    timeout: float = 900.0,
) -> dict[str, Any]:
    """Drain ``topic`` (holding ``rows`` records) into ``keyspace``.logs with the connector.

    Returns rows (counted in the table), sent, cpu_seconds, peak_rss_mb, and rows_per_s
    over ``seconds``: from the row after the first ``warmup`` (at most half the rows; the
    JIT's warm-up, as the Java loader has) to the last; ``cold_rows_per_s`` from the
    first row; ``cpu_seconds_writing`` over those ``writing_rows``. ``shortfall`` when
    fewer rows than records are in the table, ``failed`` when the task failed or the
    time ran out. Raises Unavailable when it cannot run.
    """
    import psutil
    from cassandra.cluster import Cluster
    from cassandra.query import SimpleStatement
    from kafka.admin import KafkaAdminClient

    jar, lib = locate()
    work = Path(tempfile.mkdtemp(prefix="bench-connector-"))
    name = f"logpipe-bench-{keyspace}"
    group = f"connect-{name}"
    worker, sink, log4j, rest_port = write_config(
        work, jar, name, topic, keyspace, bootstrap, contact, datacenter
    )
    argv = [
        "java", *HEAP, f"-Dlog4j2.configurationFile={log4j}", "-cp", f"{lib}/*",
        "org.apache.kafka.connect.cli.ConnectStandalone", str(worker), str(sink),
    ]  # fmt: skip
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="logpipe-bench-connector")
    failed = None
    with open(work / "jvm.out", "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    samples: list[tuple[float, float]] = []  # (epoch seconds, the JVM's CPU seconds so far)
    exited = None
    try:
        jvm = psutil.Process(proc.pid)
        deadline = time.monotonic() + timeout
        next_state = time.monotonic() + 5
        while True:
            try:
                times = jvm.cpu_times()
                samples.append((time.time(), times.user + times.system))
            except psutil.Error:
                pass
            exited = _reaped(proc.pid)
            if exited:
                failed = f"the worker exited (wait status {exited[0]}): {_log_tail(work)}"
                break
            if _committed(admin, group) >= rows:
                break
            if time.monotonic() > next_state:
                next_state = time.monotonic() + 5
                if _task_state(rest_port, name) == "FAILED":
                    failed = f"the sink task failed: {_log_tail(work)}"
                    break
            if time.monotonic() > deadline:
                failed = f"not every record committed after {timeout:.0f} s: {_log_tail(work)}"
                break
            time.sleep(0.2)
    finally:
        try:
            usage = exited[1] if exited else _stop(proc.pid)
        finally:
            try:
                admin.delete_groups([group])
            except Exception as exc:
                print(f"could not delete group {group}: {exc}", file=sys.stderr)
            admin.close()
    cluster = Cluster([contact.partition(":")[0]], port=int(contact.partition(":")[2] or 9042))
    try:
        session = cluster.connect()
        statement = SimpleStatement(
            f"SELECT toUnixTimestamp(log_id) FROM {keyspace}.logs", fetch_size=10_000
        )
        # One read of the whole table: its rows, and when the node wrote each (ms).
        written = sorted(row[0] for row in session.execute(statement, timeout=120))
    finally:
        cluster.shutdown()
    count = len(written)
    warm = min(warmup, count // 2)
    result: dict[str, Any] = {
        "rows": count,
        "sent": rows,
        "warmup_rows": warm,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
    }
    if count:
        seconds = (written[-1] - written[warm]) / 1000
        cold = (written[-1] - written[0]) / 1000
        result.update(
            seconds=seconds,
            rows_per_s=(count - warm) / seconds if seconds else 0.0,
            cold_seconds=cold,
            cold_rows_per_s=count / cold if cold else 0.0,
            cpu_seconds_writing=_between(samples, written[warm] / 1000, written[-1] / 1000),
            writing_rows=count - warm,
        )
    else:
        result.update(seconds=0.0, rows_per_s=0.0)
    if count != rows:
        result["shortfall"] = rows - count
    if failed:
        result["failed"] = failed[:1500]
    if not failed and count == rows:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    else:
        result["work"] = str(work)  # its configuration and log, kept to look at
    return result

"""What every benchmark shares: the corpus, processes with their peak memory, Kafka topics.

Every contender (ours and each baseline) runs as a fresh process of its own, so none
inherits a warm interpreter, a connected client or a filled cache from another, and its
peak RSS is its own: the kernel's high-water mark of that process (``VmHWM``), sampled
every 50 ms until it exits.

The Kafka helpers here read end offsets and create and delete the bench's own topics;
like the tests, the bench talks to the broker with kafka-python directly for that
(logpipe's own code reaches Kafka only through ``logpipe.kafka``).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from logpipe_testkit import readiness

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
#: The corpus: real Apache combined lines, copied into the repository with their licence.
CORPUS = ROOT / "tests" / "data" / "access-combined-real.log"
BIN = Path(sys.executable).parent
PYTHON = sys.executable
BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
CONTACT_POINTS = os.environ.get("CASSANDRA_CONTACT_POINTS", "127.0.0.1")
#: One name per bench run: every topic, keyspace and group of the run carries it.
RUN_ID = uuid.uuid4().hex[:8]


def say(text: str) -> None:
    print(text, flush=True)


def unique(prefix: str) -> str:
    """A topic / keyspace / group name of this run (lowercase letters, digits, _)."""
    return f"bench_{RUN_ID}_{prefix}_{uuid.uuid4().hex[:6]}"


# --- the corpus ------------------------------------------------------------------------


def corpus_lines() -> list[bytes]:
    """The corpus lines without their newlines (empty lines left out)."""
    return [line for line in CORPUS.read_bytes().splitlines() if line.strip()]


def repeated(lines: Sequence[bytes], count: int) -> list[bytes]:
    """``count`` lines: the corpus over and over (the same data for every contender)."""
    return [lines[i % len(lines)] for i in range(count)]


def write_file(path: Path, lines: Sequence[bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    return path


# --- processes -------------------------------------------------------------------------


@dataclass
class Finished:
    """How a contender's process ended."""

    returncode: int
    peak_rss_mb: float
    seconds: float
    output: str = ""
    #: CPU seconds (user + system) the process used in all, from its rusage at exit.
    cpu_s: float = float("nan")


def high_water_mb(pid: int) -> float | None:
    """The kernel's peak RSS of a running process (VmHWM), in MiB.

    Unlike ``ru_maxrss`` it starts afresh at exec, so the parent's memory (copied by the
    fork before exec) does not count.
    """
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError):
        pass
    return None


def listening_pid(port: int) -> int | None:
    """The process listening on this TCP port (a local server of ``services/``), if any."""
    for conn in psutil.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            return conn.pid
    return None


def cpu_seconds(pid: int | None) -> float:
    """CPU seconds (user + system) a running process has used so far; nan without one."""
    if pid is None:
        return float("nan")
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


class PeakWatcher:
    """Samples a process's VmHWM every ``interval`` s until it exits; keeps the highest."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = float("nan")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="peak-rss", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            value = high_water_mb(self.pid)
            if value is not None and not value <= self.peak:
                self.peak = value
            self._stop.wait(self.interval)

    def sample(self) -> None:
        value = high_water_mb(self.pid)
        if value is not None and not value <= self.peak:
            self.peak = value

    def done(self) -> float:
        self._stop.set()
        self._thread.join(timeout=2)
        return self.peak


def reap(proc: subprocess.Popen[bytes], started: float, peak: PeakWatcher) -> Finished:
    """Wait for ``proc``; a zombie still has its status, so read VmHWM once more first.

    ``wait4`` hands back the process's rusage with its status: its CPU time in all.
    """
    cpu = float("nan")
    try:
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        peak.sample()
        _pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        cpu = usage.ru_utime + usage.ru_stime
    except ChildProcessError:  # already reaped by Popen.poll()
        proc.wait()
    code = proc.returncode if proc.returncode is not None else -1
    return Finished(code, round(peak.done(), 1), time.monotonic() - started, cpu_s=cpu)


def run_process(
    argv: Sequence[str | Path], timeout: float, env: dict[str, str] | None = None
) -> Finished:
    """Run a command to its end; its stdout+stderr are kept for the error message."""
    started = time.monotonic()
    proc = subprocess.Popen(
        [str(a) for a in argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    output: list[bytes] = []
    reader = threading.Thread(target=lambda: output.append(proc.stdout.read()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    peak = PeakWatcher(proc.pid)
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        done = reap(proc, started, peak)
    finally:
        timer.cancel()
    reader.join(timeout=5)
    done.output = b"".join(output).decode("utf-8", "replace")
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited {done.returncode}: {done.output[-2000:]}")
    return done


class Daemon:
    """A long-running contender (a tailer, rsyslogd, a poller) stopped with SIGTERM."""

    def __init__(
        self, argv: Sequence[str | Path], log: Path, env: dict[str, str] | None = None
    ) -> None:
        self.argv = [str(a) for a in argv]
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        self._out = log.open("wb")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            self.argv, stdout=self._out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
        self.peak = PeakWatcher(self.proc.pid)
        self.finished: Finished | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.finished is None and self.proc.poll() is None

    def cpu_seconds(self) -> float:
        """CPU seconds (user + system, all its threads) it has used so far; nan once gone."""
        try:
            return cpu_seconds(self.proc.pid)
        except psutil.Error:
            return float("nan")

    def rss_mb(self) -> float | None:
        try:
            return psutil.Process(self.proc.pid).memory_info().rss / 1024 / 1024
        except psutil.Error:
            return None

    def wait(self, timeout: float) -> Finished:
        """Let it exit by itself (killed after ``timeout``)."""
        return self.stop(timeout, sig=None)

    def stop(self, timeout: float = 30.0, sig: int | None = signal.SIGTERM) -> Finished:
        if self.finished is not None:
            return self.finished
        if self.proc.returncode is None:
            if sig is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.proc.pid, sig)  # not send_signal: its poll() would reap
            timer = threading.Timer(timeout, self.proc.kill)
            timer.start()
            try:
                self.finished = reap(self.proc, self.started, self.peak)
            finally:
                timer.cancel()
        else:  # already exited (reaped by poll())
            self.finished = Finished(self.proc.returncode, round(self.peak.done(), 1), 0.0)
        self._out.close()
        self.finished.output = self.log.read_text(errors="replace")[-2000:]
        return self.finished


def wait_ready(port: int, daemon: Daemon, timeout: float = 60.0) -> None:
    """Wait until a logpipe daemon answers 200 on /readyz."""
    readiness.wait_ready(
        port,
        timeout,
        name=str(daemon.argv[0]),
        alive=lambda: daemon.proc.poll() is None,
        details=lambda: daemon.log.read_text()[-2000:],
    )


def scrape(port: int, name: str) -> float:
    """The sum of one Prometheus metric's samples on a daemon's /metrics."""
    status, body = readiness.http_get(f"http://127.0.0.1:{port}/metrics", timeout=2)
    if status != 200:
        raise RuntimeError(f"/metrics on port {port} answered {status}")
    total = 0.0
    for line in body.decode().splitlines():
        if line.startswith(name) and (line[len(name)] in " {"):
            total += float(line.rsplit(" ", 1)[1])
    return total


@dataclass
class RssSampler:
    """RSS of some processes, sampled with psutil every ``interval`` seconds."""

    pids: dict[str, int]
    interval: float = 1.0
    t0: float = field(default_factory=time.monotonic)
    series: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss", daemon=True)

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def _loop(self) -> None:
        procs = {name: psutil.Process(pid) for name, pid in self.pids.items()}
        while not self._stop.is_set():
            now = round(time.monotonic() - self.t0, 2)
            for name, proc in procs.items():
                try:
                    rss = proc.memory_info().rss / 1024 / 1024
                except psutil.Error:
                    continue
                self.series.setdefault(name, []).append((now, round(rss, 1)))
            self._stop.wait(self.interval)

    def stop(self) -> dict[str, list[tuple[float, float]]]:
        self._stop.set()
        self._thread.join(timeout=5)
        return self.series


# --- Kafka -----------------------------------------------------------------------------


def create_topic(name: str, partitions: int = 1, append_time: bool = True) -> str:
    """A fresh topic; with ``append_time`` the broker stamps each batch as it appends it.

    ``message.timestamp.type=LogAppendTime`` makes a record's timestamp the moment the
    broker wrote it, whoever produced it, so ``append_rate`` times every shipper alike,
    to the millisecond, whatever the shipper prints and however often it is polled.
    """
    from kafka.admin import KafkaAdminClient, NewTopic

    configs = {"message.timestamp.type": "LogAppendTime"} if append_time else {}
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP, client_id="logpipe-bench")
    try:
        admin.create_topics(
            [NewTopic(name, partitions, 1, topic_configs=configs)],
            timeout_ms=30_000,
        )
        deadline = time.monotonic() + 30
        while name not in admin.list_topics() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        admin.close()
    return name


def append_rate(topic: str) -> dict[str, float]:
    """Records/s the broker appended to a one-partition ``append_time`` topic.

    From the first batch's append time to the last record's: the records after the
    first batch over that span (records of one batch share one timestamp).
    """
    from kafka import KafkaConsumer, TopicPartition

    tp = TopicPartition(topic, 0)
    consumer = KafkaConsumer(
        bootstrap_servers=BOOTSTRAP, enable_auto_commit=False, max_partition_fetch_bytes=4 << 20
    )
    try:
        consumer.assign([tp])
        end = consumer.end_offsets([tp])[tp]
        if end < 2:
            return {"records": end, "rate": float("nan")}
        consumer.seek(tp, end - 1)
        last = _one(consumer, tp)
        consumer.seek(tp, 0)
        first_ts, first_batch = None, 0
        while first_batch < end:
            records = consumer.poll(timeout_ms=5000).get(tp, [])
            if not records:
                break
            for record in records:
                if first_ts is None:
                    first_ts = record.timestamp
                if record.timestamp != first_ts:
                    break
                first_batch += 1
            else:
                continue
            break
        span = (last - first_ts) / 1000.0 if first_ts is not None else 0.0
        rate = (end - first_batch) / span if span > 0 else float("nan")
        return {"records": end, "rate": rate, "span_s": span, "first_batch": first_batch}
    finally:
        consumer.close()


def _one(consumer: Any, tp: Any) -> int:
    for _ in range(10):
        records = consumer.poll(timeout_ms=5000).get(tp, [])
        if records:
            return int(records[-1].timestamp)
    raise RuntimeError(f"could not read the last record of {tp.topic}")


class Offsets:
    """End offsets of topics: how many records arrived in Kafka."""

    def __init__(self) -> None:
        from kafka import KafkaConsumer

        self._consumer = KafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False)

    def total(self, topic: str) -> int:
        from kafka import TopicPartition

        parts = self._consumer.partitions_for_topic(topic)
        if not parts:
            self._consumer.topics()  # refresh metadata for a topic created a moment ago
            parts = self._consumer.partitions_for_topic(topic) or set()
        ends = self._consumer.end_offsets([TopicPartition(topic, p) for p in parts])
        return int(sum(ends.values()))

    def wait_for(
        self,
        topic: str,
        expected: int,
        timeout: float,
        started: float,
        alive: Callable[[], bool] | None = None,
        interval: float = 0.1,
    ) -> tuple[int, float]:
        """Poll until ``expected`` records arrived; return (count, seconds since started).

        Stops early when ``alive()`` turns false and the count stops moving.
        """
        deadline = time.monotonic() + timeout
        count, last_change, seen = 0, time.monotonic(), -1
        while time.monotonic() < deadline:
            count = self.total(topic)
            now = time.monotonic()
            if count >= expected:
                return count, now - started
            if count != seen:
                seen, last_change = count, now
            elif alive is not None and not alive() and now - last_change > 3.0:
                break
            time.sleep(interval)
        return count, time.monotonic() - started

    def close(self) -> None:
        self._consumer.close()


def delete_topics(names: Sequence[str]) -> None:
    """Delete the bench's topics (best effort: the run's results do not depend on it)."""
    if not names:
        return
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP, client_id="logpipe-bench")
    try:
        for start in range(0, len(names), 50):
            try:
                admin.delete_topics(list(names[start : start + 50]), timeout_ms=30_000)
            except Exception as exc:
                say(f"  (could not delete topics: {exc})")
    finally:
        admin.close()


# --- Cassandra -------------------------------------------------------------------------


def make_table(store: Any, keyspace: str, statements: int) -> None:
    """The first statements of schema.cql: 2 for the tutorial's keyspace and table, 3 for
    the field columns too, all of them for their indexes as well."""
    from cassandra.query import SimpleStatement

    from logpipe.cassandra import Replication, schema_statements

    for statement in schema_statements(keyspace, Replication.parse(1))[:statements]:
        store.session.execute(SimpleStatement(statement), timeout=60.0)


@contextmanager
def keyspace(name: str, tutorial_table: bool = False) -> Iterator[str]:
    """A fresh keyspace with logpipe's schema, dropped afterwards.

    ``tutorial_table``: only the tutorial's keyspace and table, without the field columns
    and their indexes, which double the node's cost per row; kafka2cassandra writes the
    columns the table has.
    """
    from logpipe.cassandra import Replication, Store
    from logpipe.config.connections import CassandraConnection

    conn = CassandraConnection(contact_points=CONTACT_POINTS, keyspace=name)
    with Store(conn, consistency="ONE") as store:
        if tutorial_table:
            make_table(store, name, 2)
        else:
            store.apply_schema(name, Replication(factor=1))
    try:
        yield name
    finally:
        with Store(conn, consistency="ONE") as store:
            store.drop_keyspace(name)


# --- machine ---------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """Cores, memory, Python and the versions of the services the numbers were taken on."""
    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_gb": round(psutil.virtual_memory().total / 1024**3, 1),
        "python": platform.python_version(),
        "os": platform.platform(),
        "kafka": None,
        "cassandra": None,
    }
    cassandra = _services_status().get("cassandra", {})
    detail = cassandra.get("detail", "")
    match = re.search(r"(\d+\.\d+\.\d+)", detail)
    info["cassandra"] = match.group(1) if match else detail or None
    info["cassandra_heap"] = _jvm_heap(cassandra.get("pid"))
    cache = Path(os.environ.get("LOGPIPE_SERVICES_CACHE", ROOT / "services" / ".cache"))
    for jar in sorted(cache.glob("kafka/lib/kafka-server-*.jar")):
        match = re.search(r"kafka-server-(\d+\.\d+\.\d+)\.jar$", jar.name)
        if match:
            info["kafka"] = match.group(1)
    return info


def _jvm_heap(pid: Any) -> str | None:
    """The ``-Xmx`` a running JVM was started with (the node's heap: LOGPIPE_CASSANDRA_HEAP)."""
    try:
        args = Path(f"/proc/{int(pid)}/cmdline").read_bytes().split(b"\0")
    except (OSError, TypeError, ValueError):
        return None
    heaps = [a[4:].decode() for a in args if a.startswith(b"-Xmx")]
    return heaps[-1] if heaps else None


def service_pids() -> dict[str, Any]:
    """Pid and state of the local Kafka and Cassandra: a change means one was restarted."""
    status = _services_status()
    return {name: (info.get("pid"), info.get("state")) for name, info in status.items()}


def _services_status() -> dict[str, Any]:
    """What ``services/ctl status`` says of the local servers; empty when it cannot say."""
    try:
        return json.loads(
            subprocess.run(
                [str(ROOT / "services" / "ctl"), "--json", "status"],
                capture_output=True,
                text=True,
                timeout=60,
            ).stdout
        )
    except (OSError, ValueError, subprocess.SubprocessError):
        return {}


def wait_services_up(timeout: float = 300.0) -> dict[str, Any]:
    """Wait until both local services say they are up; return their pids and states."""
    deadline = time.monotonic() + timeout
    pids = service_pids()
    while time.monotonic() < deadline:
        if pids and all(state == "up" for _pid, state in pids.values()):
            return pids
        time.sleep(2.0)
        pids = service_pids()
    return pids


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def median(values: Sequence[float]) -> float:
    clean = [v for v in values if v == v]  # NaN out
    return statistics.median(clean) if clean else float("nan")

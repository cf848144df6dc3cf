"""File -> Kafka: ``logs2kafka tail``, rsyslog (imfile + omkafka), Fluent Bit, ``kcat -P``.

The rows ``bench_ship.py`` does not have: what a sysadmin would run instead of us.

* ``logs2kafka tail`` (with either Kafka client) follows an empty file; once it is
  ready a writer appends the lines at full speed (already stamped with the current
  time and a sequence number, as Apache would write them), so the tailer, not the
  writer, sets the pace.
* rsyslog from Debian's packages, ``imfile`` (inotify) reading the same file and
  ``omkafka`` producing each raw line (no parsing, no envelope), started in the
  foreground with a configuration, pid file and work directory of its own.
* Fluent Bit (not packaged for Debian: built from source, see docs/benchmarks.md, and
  found through ``LOGPIPE_BENCH_FLUENT_BIT``; reported unavailable otherwise):
  ``in_tail`` with its own ``apache2`` parser and an offsets database (``DB``) into
  ``out_kafka``, once with its defaults (an inotify watcher) and once with
  ``Inotify_Watcher false`` (a stat of the file every 250 ms). It ships each line as
  the parser's fields (JSON), without the raw line.
* Each Kafka client alone (``client_alone.py``): reads the file every 0.1 s and
  produces each raw line with logs2kafka's producer settings, and does nothing else
  (no parsing, no envelope, no checkpoint): what the client costs with nothing else
  done per line.
* ``kcat -P -l FILE``: the raw lines of the file, produced by librdkafka with no
  parsing and no checkpoint: the client library's limit on this machine.

All of them produce with lz4 and ``acks=all`` (our default) into a fresh one-partition
topic whose timestamps the broker sets as it appends (``LogAppendTime``); what arrived
is counted from the topic's end offset, and the rate is the sustained one: records
after the first batch over the time from the first batch's append to the last
record's, so process start-up and connecting are left out for every contender alike
(``polled_rate``, from end offsets polled every 50 ms, is kept beside it). Peak RSS is
the kernel's high-water mark of the process (VmHWM), sampled until it exits.

CPU per 100,000 lines is the process's own CPU time (user + system, all its threads):
for a follower, what it used from the moment the writer starts (it is ready and idle
then) to the moment the last line is in Kafka, start-up and shutdown left out; for
``kcat``, which starts, ships and exits, its whole run (``cpu_total_s``, from its
rusage at exit, is kept for every contender).

Run alone: ``python bench/bench_shippers.py --lines 50000 [--c-lines 200000]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import benchkit as kit
from logpipe_testkit.ports import free_port
from logpipe_testkit.traffic import stamp

#: Debian packages each contender needs: (binary, packages).
PACKAGES = {
    "rsyslog": ("/usr/sbin/rsyslogd", ("rsyslog", "rsyslog-kafka")),
    "kcat": ("/usr/bin/kcat", ("kcat",)),
}
_install_tried: dict[str, str | None] = {}


def ensure_package(name: str) -> str | None:
    """Install the contender's Debian packages if missing; None when ready, else why not."""
    binary, packages = PACKAGES[name]
    if name in _install_tried:
        return _install_tried[name]
    reason: str | None = None
    omkafka = Path("/usr/lib/x86_64-linux-gnu/rsyslog/omkafka.so")
    if not Path(binary).exists() or (name == "rsyslog" and not _has_omkafka(omkafka)):
        kit.say(f"  installing {' '.join(packages)} (apt-get install -y)")
        apt = shutil.which("apt-get")
        if apt is None:
            reason = "apt-get not found: install " + " ".join(packages) + " by hand"
        else:
            done = subprocess.run(
                [apt, "install", "-y", "--no-install-recommends", *packages],
                capture_output=True,
                text=True,
                env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
            )
            if done.returncode != 0:
                reason = (
                    f"apt-get install {' '.join(packages)} failed: {done.stderr.strip()[-300:]}"
                )
            elif not Path(binary).exists():
                reason = f"{binary} still missing after apt-get install"
    if reason:
        kit.say(f"  UNAVAILABLE {name}: {reason}")
    _install_tried[name] = reason
    return reason


def _has_omkafka(default: Path) -> bool:
    return default.exists() or any(Path("/usr/lib").glob("*/rsyslog/omkafka.so"))


#: The Fluent Bit binary to run (it is not packaged for Debian: built from source).
FLUENT_BIT_ENV = "LOGPIPE_BENCH_FLUENT_BIT"
#: Its parsers file (the ``apache2`` parser); default: conf/parsers.conf of its sources.
FLUENT_BIT_PARSERS_ENV = "LOGPIPE_BENCH_FLUENT_BIT_PARSERS"


@dataclass(frozen=True)
class FluentBit:
    binary: Path
    parsers: Path
    version: str


def fluent_bit() -> FluentBit | str:
    """The Fluent Bit binary and parsers file to run, or why there are none."""
    named = os.environ.get(FLUENT_BIT_ENV)
    found = named or shutil.which("fluent-bit")
    if not found:
        return (
            f"set {FLUENT_BIT_ENV} to a fluent-bit binary (not packaged for Debian: "
            "docs/benchmarks.md says how to build it)"
        )
    binary = Path(found)
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        return f"{FLUENT_BIT_ENV}={binary}: no such executable"
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{binary} --version failed: {exc}"
    match = re.search(r"Fluent Bit v(\S+)", out)
    version = match.group(1) if match else (out.strip().splitlines() or ["unknown"])[0]
    named_parsers = os.environ.get(FLUENT_BIT_PARSERS_ENV)
    parsers = Path(named_parsers) if named_parsers else _parsers_beside(binary)
    if parsers is None or not parsers.is_file():
        return (
            f"no parsers file for {binary}: set {FLUENT_BIT_PARSERS_ENV} to Fluent Bit's "
            "conf/parsers.conf (the one with the apache2 parser)"
        )
    if not re.search(r"(?mi)^\s*name\s+apache2\s*$", parsers.read_text(errors="replace")):
        return f"{parsers} has no parser named apache2"
    return FluentBit(binary, parsers, version)


def _parsers_beside(binary: Path) -> Path | None:
    """conf/parsers.conf of the sources ``binary`` was built from (or of its package)."""
    build = binary.resolve().parent.parent
    candidates = [build / "conf" / "parsers.conf", build.parent / "conf" / "parsers.conf"]
    cache = build / "CMakeCache.txt"
    if cache.is_file():
        match = re.search(r"(?m)^CMAKE_HOME_DIRECTORY:INTERNAL=(.+)$", cache.read_text())
        if match:
            candidates.insert(0, Path(match.group(1).strip()) / "conf" / "parsers.conf")
    candidates.append(Path("/etc/fluent-bit/parsers.conf"))
    return next((c for c in candidates if c.is_file()), None)


def versions() -> dict[str, str | None]:
    """Versions of the external shippers, for the results file."""
    found: dict[str, str | None] = {"rsyslog": None, "kcat": None, "fluent_bit": None}
    located = fluent_bit()
    if isinstance(located, FluentBit):
        found["fluent_bit"] = located.version
    try:
        out = subprocess.run(["rsyslogd", "-v"], capture_output=True, text=True).stdout
        found["rsyslog"] = out.split()[1] if out else None
    except OSError:
        pass
    try:
        out = subprocess.run(["kcat", "-V"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Version"):
                found["kcat"] = line.split("(")[0].replace("Version", "").strip() + (
                    " (librdkafka " + line.split("librdkafka ")[1].split()[0] + ")"
                    if "librdkafka " in line
                    else ""
                )
    except (OSError, IndexError):
        pass
    return found


# --- measuring ------------------------------------------------------------------------


def sustained(
    offsets: kit.Offsets, topic: str, expected: int, timeout: float, alive: Callable[[], bool]
) -> dict[str, float]:
    """Watch the topic fill: lines/s between the first and the last arrival."""
    first: tuple[float, int] | None = None
    deadline = time.monotonic() + timeout
    count, last_change, seen = 0, time.monotonic(), -1
    while time.monotonic() < deadline:
        count = offsets.total(topic)
        now = time.monotonic()
        if first is None and count > 0:
            first = (now, count)
        if count >= expected:
            break
        if count != seen:
            seen, last_change = count, now
        elif not alive() and now - last_change > 3.0:
            break
        time.sleep(0.05)
    now = time.monotonic()
    if first is None or count <= first[1] or now <= first[0]:
        rate = float("nan")
    else:
        rate = (count - first[1]) / (now - first[0])
    return {"arrived": count, "expected": expected, "rate": rate}


def stamped_file(path: Path, lines: Sequence[bytes], run: str) -> Path:
    """The lines as a live Apache would write them (current time, a sequence number)."""
    now = datetime.now(UTC)
    with path.open("wb") as out:
        for start in range(0, len(lines), 10_000):
            chunk = lines[start : start + 10_000]
            out.write(b"".join(stamp(line, run, start + i, now) + b"\n"
                               for i, line in enumerate(chunk)))  # fmt: skip
    return path


def append_fast(path: Path, source: Path, chunk: int = 2000) -> None:
    """Append the lines of ``source`` as fast as the disk takes them, ``chunk`` per write."""
    with source.open("rb") as lines, path.open("ab", buffering=0) as handle:
        while block := b"".join(itertools.islice(lines, chunk)):
            handle.write(block)


def result(
    measured: dict[str, float],
    finished: kit.Finished | None,
    topic: str,
    cpu_s: float,
    **extra: Any,
) -> dict[str, Any]:
    """The broker's append rate when every line arrived; the polled rate beside it.

    ``cpu_s`` is the CPU the contender spent on these lines; per 100,000 lines only when
    every line arrived (else the row is marked incomplete and has no rate).
    """
    appended = kit.append_rate(topic)
    row: dict[str, Any] = {
        "rate": appended["rate"],
        "polled_rate": measured["rate"],
        "arrived": measured["arrived"],
        "expected": measured["expected"],
        "peak_rss_mb": finished.peak_rss_mb if finished else float("nan"),
        "cpu_s": round(cpu_s, 3),
        "cpu_total_s": round(finished.cpu_s, 3) if finished else float("nan"),
        **extra,
    }
    if measured["arrived"] < measured["expected"]:
        row["incomplete"] = True
        row["unavailable"] = (
            f"only {measured['arrived']:,.0f} of {measured['expected']:,.0f} lines arrived"
        )
        row.pop("rate")
    elif cpu_s == cpu_s and measured["arrived"]:
        row["cpu_s_per_100k"] = round(cpu_s / measured["arrived"] * 100_000, 3)
    return row


def _fresh(name: str, topics: list[str]) -> tuple[str, Path]:
    """A new topic (remembered in ``topics`` for deletion) and a scratch folder for one run."""
    topic = kit.create_topic(kit.unique(name.replace("-", "_").replace(" ", "_")))
    topics.append(topic)
    return topic, Path(tempfile.mkdtemp(prefix=f"bench-{name.replace(' ', '-')}-"))


Starter = Callable[[Path, str, Path], tuple[kit.Daemon, Callable[[], None]]]


def follow(
    name: str,
    start: Starter,
    source: Path,
    count: int,
    offsets: kit.Offsets,
    topics: list[str],
    timeout: float = 180.0,
) -> dict[str, Any]:
    """Start a follower on an empty file, then append the ``count`` lines of ``source``.

    Its CPU is read when it is ready (before the first line) and the moment the last
    line is in Kafka.
    """
    topic, work = _fresh(name, topics)
    log = work / "access.log"
    log.touch()
    daemon, wait_ready = start(log, topic, work)
    cpu_s = float("nan")
    try:
        wait_ready()
        before = daemon.cpu_seconds()
        append_fast(log, source)
        measured = sustained(offsets, topic, count, timeout, daemon.alive)
        cpu_s = daemon.cpu_seconds() - before
    finally:
        finished = daemon.stop()
        shutil.rmtree(work, ignore_errors=True)
    return result(measured, finished, topic, cpu_s)


def whole_file(
    name: str,
    argv: Callable[[Path, str], Sequence[str | Path]],
    path: Path,
    count: int,
    offsets: kit.Offsets,
    topics: list[str],
    timeout: float = 180.0,
) -> dict[str, Any]:
    """Run a command that ships a whole file once and exits."""
    topic, work = _fresh(name, topics)
    daemon = kit.Daemon(argv(path, topic), work / "out.log")
    try:
        measured = sustained(offsets, topic, count, timeout, daemon.alive)
    finally:
        finished = daemon.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)
    return result(measured, finished, topic, finished.cpu_s)


# --- the contenders -------------------------------------------------------------------


#: The rows of ``logs2kafka tail`` per Kafka client.
TAIL = {"kafka-python": "logs2kafka tail", "confluent": "logs2kafka tail --kafka-client confluent"}


#: Why a confluent contender is not run.
CONFLUENT_MISSING = "confluent-kafka not installed (logpipe[fast])"


def has_confluent() -> bool:
    """Whether the confluent client is installed (``pip install 'logpipe[fast]'``)."""
    return importlib.util.find_spec("confluent_kafka") is not None


def tail_starter(client: str = "kafka-python") -> Starter:
    """Starts ``logs2kafka tail`` with this Kafka client, everything else by default."""

    def start(log: Path, topic: str, work: Path) -> tuple[kit.Daemon, Callable[[], None]]:
        port = free_port()
        daemon = kit.Daemon(
            [
                kit.BIN / "logs2kafka",
                "tail",
                log,
                "--topic",
                topic,
                "--source",
                "bench",
                "--state-dir",
                work / "state",
                "--bootstrap-servers",
                kit.BOOTSTRAP,
                "--kafka-client",
                client,
                "--metrics-port",
                str(port),
                "--log-format",
                "json",
            ],
            work / "logs2kafka.log",
        )
        return daemon, lambda: kit.wait_ready(port, daemon)

    return start


start_tail = tail_starter("kafka-python")

#: The Kafka client alone (``bench/client_alone.py``): the floor under a Python shipper.
ALONE = {"kafka-python": "kafka-python alone", "confluent": "confluent-kafka alone"}


def client_alone_starter(client: str) -> Starter:
    """Starts ``bench/client_alone.py`` with this client and logs2kafka's producer
    defaults: raw lines, nothing but the client's own work."""
    from logpipe.kafka.producer import ProducerSettings

    settings = ProducerSettings()

    def start(log: Path, topic: str, work: Path) -> tuple[kit.Daemon, Callable[[], None]]:
        out = work / "client_alone.log"
        daemon = kit.Daemon(
            [
                kit.BIN / "python",
                Path(__file__).with_name("client_alone.py"),
                client,
                log,
                topic,
                kit.BOOTSTRAP,
                "--linger-ms",
                str(settings.linger_ms),
                "--batch-size",
                str(settings.batch_size),
                "--compression",
                settings.compression,
            ],
            out,
        )

        def ready() -> None:
            deadline = time.monotonic() + 60
            while b"ready" not in out.read_bytes():
                if not daemon.alive() or time.monotonic() > deadline:
                    raise RuntimeError(f"client_alone.py did not start: {out.read_text()[-2000:]}")
                time.sleep(0.1)

        return daemon, ready

    return start


RSYSLOG_CONF = """\
# rsyslog as a sysadmin would ship an Apache log to Kafka: imfile + omkafka, raw lines.
global(workDirectory="{work}" maxMessageSize="256k")
module(load="imfile" mode="inotify")
module(load="omkafka")
template(name="rawline" type="string" string="%msg%")
ruleset(name="tokafka") {{
  action(type="omkafka" broker=["{broker}"] topic="{topic}" template="rawline"
         confParam=["compression.codec=lz4"]
         topicConfParam=["request.required.acks=-1"])
}}
input(type="imfile" File="{log}" Tag="apache" ruleset="tokafka")
"""


def start_rsyslog(log: Path, topic: str, work: Path) -> tuple[kit.Daemon, Callable[[], None]]:
    state = work / "rsyslog"
    state.mkdir()
    conf = work / "rsyslog.conf"
    conf.write_text(RSYSLOG_CONF.format(work=state, broker=kit.BOOTSTRAP, topic=topic, log=log))
    pidfile = work / "rsyslogd.pid"
    daemon = kit.Daemon(
        ["/usr/sbin/rsyslogd", "-n", "-f", conf, "-i", pidfile], work / "rsyslogd.log"
    )

    def ready() -> None:
        deadline = time.monotonic() + 20
        while not pidfile.exists() and time.monotonic() < deadline:
            if daemon.proc.poll() is not None:
                raise RuntimeError(f"rsyslogd exited: {daemon.log.read_text()[-2000:]}")
            time.sleep(0.1)
        time.sleep(1.0)  # imfile registers its inotify watch after the pid file is written

    return daemon, ready


#: The rows of Fluent Bit per configuration: inotify (its default) or a stat every 250 ms.
FLUENT_BIT = {
    True: "Fluent Bit, defaults (inotify watcher, offsets DB)",
    False: "Fluent Bit, Inotify_Watcher false",
}

FLUENT_BIT_CONF = """\
# Fluent Bit as its documentation ships an Apache log to Kafka: in_tail with the
# apache2 parser and an offsets database, out_kafka; everything else by default.
[SERVICE]
    Log_Level    info
    Parsers_File {parsers}

[INPUT]
    Name            tail
    Path            {log}
    Parser          apache2
    DB              {db}
{watcher}
[OUTPUT]
    Name                           kafka
    Match                          *
    Brokers                        {broker}
    Topics                         {topic}
    rdkafka.compression.codec      lz4
    rdkafka.request.required.acks  -1
"""

#: What Fluent Bit logs once its inputs and outputs are up and its collectors started.
FLUENT_BIT_STARTED = "Shutdown Grace Period="


def fluent_bit_starter(found: FluentBit, inotify: bool) -> Starter:
    """Starts Fluent Bit in the foreground with a configuration of its own."""

    def start(log: Path, topic: str, work: Path) -> tuple[kit.Daemon, Callable[[], None]]:
        conf = work / "fluent-bit.conf"
        conf.write_text(
            FLUENT_BIT_CONF.format(
                parsers=found.parsers,
                log=log,
                db=work / "tail.db",
                watcher="" if inotify else "    Inotify_Watcher false\n",
                broker=kit.BOOTSTRAP,
                topic=topic,
            )
        )
        daemon = kit.Daemon([found.binary, "-c", conf], work / "fluent-bit.log")

        def ready() -> None:
            deadline = time.monotonic() + 30
            while FLUENT_BIT_STARTED not in daemon.log.read_text(errors="replace"):
                if daemon.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"fluent-bit did not start: {daemon.log.read_text()[-2000:]}"
                    )
                time.sleep(0.1)
            time.sleep(0.5)  # settle, as for rsyslog

        return daemon, ready

    return start


def kcat_argv(path: Path, topic: str) -> list[str | Path]:
    return [
        "/usr/bin/kcat",
        "-P",
        "-b",
        kit.BOOTSTRAP,
        "-t",
        topic,
        "-z",
        "lz4",
        "-X",
        "acks=all",
        "-l",
        path,
    ]


def run(
    size: int, offsets: kit.Offsets, topics: list[str], work: Path, c_size: int | None = None
) -> dict[str, Any]:
    """One round: the kafka-python tail on ``size`` lines, the others on ``c_size``.

    The confluent tail and the C shippers are several times faster: they get more lines
    (``c_size``, default ``size``), so that their run lasts long enough to be timed to
    a few percent. The tails get the lines stamped as a live Apache writes them; the
    others the corpus lines as they are.
    """
    c_size = c_size or size
    corpus = kit.corpus_lines()
    rows: dict[str, Any] = {}
    tail_file = _cached(work / f"stamped-{size}.log", _stamped(corpus, size))
    rows[TAIL["kafka-python"]] = follow(
        "l2k_tail", tail_starter("kafka-python"), tail_file, size, offsets, topics
    )
    if has_confluent():
        fast_file = _cached(work / f"stamped-{c_size}.log", _stamped(corpus, c_size))
        rows[TAIL["confluent"]] = follow(
            "l2k_tail_confluent", tail_starter("confluent"), fast_file, c_size, offsets, topics
        )
    else:
        rows[TAIL["confluent"]] = {"unavailable": CONFLUENT_MISSING}
    rows[ALONE["kafka-python"]] = follow(
        "alone_kafka_python", client_alone_starter("kafka-python"), tail_file, size, offsets, topics
    )
    if has_confluent():
        rows[ALONE["confluent"]] = follow(
            "alone_confluent", client_alone_starter("confluent"), fast_file, c_size, offsets, topics
        )
    else:
        rows[ALONE["confluent"]] = {"unavailable": CONFLUENT_MISSING}
    raw = _cached(work / f"raw-{c_size}.log",
                  lambda p: kit.write_file(p, kit.repeated(corpus, c_size)))  # fmt: skip
    why = ensure_package("rsyslog")
    rows["rsyslog imfile+omkafka"] = (
        {"unavailable": why}
        if why
        else follow("rsyslog", start_rsyslog, raw, c_size, offsets, topics)
    )
    found = fluent_bit()
    for inotify, name in FLUENT_BIT.items():
        if isinstance(found, str):
            rows[name] = {"unavailable": found}
            continue
        starter = fluent_bit_starter(found, inotify)
        rows[name] = follow(
            "fluent_bit" if inotify else "fluent_bit_stat", starter, raw, c_size, offsets, topics
        )
    why = ensure_package("kcat")
    rows["kcat -P"] = (
        {"unavailable": why} if why else whole_file("kcat", kcat_argv, raw, c_size, offsets, topics)
    )
    return rows


def _stamped(corpus: Sequence[bytes], count: int) -> Callable[[Path], Path]:
    return lambda path: stamped_file(path, kit.repeated(corpus, count), kit.RUN_ID)


def _cached(path: Path, make: Callable[[Path], Path]) -> Path:
    """``path``, made once per run (the rounds share their input files)."""
    return path if path.exists() else make(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=50_000)
    parser.add_argument(
        "--c-lines", type=int, help="lines for the confluent tail and the C shippers"
    )
    opts = parser.parse_args()
    offsets = kit.Offsets()
    topics: list[str] = []
    work = Path(tempfile.mkdtemp(prefix="bench-shippers-"))
    try:
        rows = run(opts.lines, offsets, topics, work, opts.c_lines)
        print(json.dumps(rows, indent=2))
    finally:
        offsets.close()
        kit.delete_topics(topics)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""File -> Kafka: ``logs2kafka tail`` following a file, rsyslog (imfile + omkafka), ``kcat -P``.

The rows ``bench_ship.py`` does not have: what a sysadmin would run instead of us.

* ``logs2kafka tail`` follows an empty file; once it is ready a writer appends the
  lines at full speed (already stamped with the current time and a sequence number,
  as Apache would write them), so the tailer, not the writer, sets the pace.
* rsyslog from Debian's packages, ``imfile`` (inotify) reading the same file and
  ``omkafka`` producing each raw line (no parsing, no envelope), started in the
  foreground with a configuration, pid file and work directory of its own.
* ``kcat -P -l FILE``: the raw lines of the file, produced by librdkafka with no
  parsing and no checkpoint: the client library's limit on this machine.

All of them produce with lz4 and ``acks=all`` (our default) into a fresh one-partition
topic whose timestamps the broker sets as it appends (``LogAppendTime``); what arrived
is counted from the topic's end offset, and the rate is the sustained one: records
after the first batch over the time from the first batch's append to the last
record's, so process start-up and connecting are left out for every contender alike
(``polled_rate``, from end offsets polled every 50 ms, is kept beside it). Peak RSS is
the kernel's high-water mark of the process (VmHWM), sampled until it exits.

Run alone: ``python bench/bench_shippers.py --lines 50000``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
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


def versions() -> dict[str, str | None]:
    """Versions of the external shippers, for the results file."""
    found: dict[str, str | None] = {"rsyslog": None, "kcat": None}
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


def stamped(lines: Sequence[bytes], run: str) -> list[bytes]:
    """The lines as a live Apache would write them: current time, a sequence number."""
    now = datetime.now(UTC)
    return [stamp(line, run, seq, now) for seq, line in enumerate(lines)]


def append_fast(path: Path, lines: Sequence[bytes], chunk: int = 2000) -> None:
    """Append ``lines`` as fast as the disk takes them, in chunks (the writer never waits)."""
    with path.open("ab", buffering=0) as handle:
        for start in range(0, len(lines), chunk):
            handle.write(b"".join(line + b"\n" for line in lines[start : start + chunk]))


def result(
    measured: dict[str, float], finished: kit.Finished | None, topic: str, **extra: Any
) -> dict[str, Any]:
    """The broker's append rate when every line arrived; the polled rate beside it."""
    appended = kit.append_rate(topic)
    row: dict[str, Any] = {
        "rate": appended["rate"],
        "polled_rate": measured["rate"],
        "arrived": measured["arrived"],
        "expected": measured["expected"],
        "peak_rss_mb": finished.peak_rss_mb if finished else float("nan"),
        **extra,
    }
    if measured["arrived"] < measured["expected"]:
        row["incomplete"] = True
    return row


def _fresh(name: str, topics: list[str]) -> tuple[str, Path]:
    """A new topic (remembered in ``topics`` for deletion) and a scratch folder for one run."""
    topic = kit.create_topic(kit.unique(name.replace("-", "_").replace(" ", "_")))
    topics.append(topic)
    return topic, Path(tempfile.mkdtemp(prefix=f"bench-{name.replace(' ', '-')}-"))


def follow(
    name: str,
    start: Callable[[Path, str, Path], tuple[kit.Daemon, Callable[[], None]]],
    lines: Sequence[bytes],
    offsets: kit.Offsets,
    topics: list[str],
    timeout: float = 180.0,
) -> dict[str, Any]:
    """Start a follower on an empty file, then append ``lines`` while it follows."""
    topic, work = _fresh(name, topics)
    log = work / "access.log"
    log.touch()
    daemon, wait_ready = start(log, topic, work)
    try:
        wait_ready()
        append_fast(log, lines)
        measured = sustained(offsets, topic, len(lines), timeout, daemon.alive)
    finally:
        finished = daemon.stop()
        shutil.rmtree(work, ignore_errors=True)
    return result(measured, finished, topic)


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
    return result(measured, finished, topic)


# --- the contenders -------------------------------------------------------------------


def start_tail(log: Path, topic: str, work: Path) -> tuple[kit.Daemon, Callable[[], None]]:
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
            "--metrics-port",
            str(port),
            "--log-format",
            "json",
        ],
        work / "logs2kafka.log",
    )
    return daemon, lambda: kit.wait_ready(port, daemon)


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
    """One round: tail on ``size`` lines, rsyslog and kcat on ``c_size`` (default ``size``).

    The C shippers are ten times faster: they get more lines, so that their run lasts
    long enough to be timed to a few percent.
    """
    c_size = c_size or size
    lines = kit.repeated(kit.corpus_lines(), size)
    rows: dict[str, Any] = {}
    rows["logs2kafka tail"] = follow(
        "l2k_tail", start_tail, stamped(lines, kit.RUN_ID), offsets, topics
    )
    c_lines = kit.repeated(kit.corpus_lines(), c_size)
    why = ensure_package("rsyslog")
    rows["rsyslog imfile+omkafka"] = (
        {"unavailable": why} if why else follow("rsyslog", start_rsyslog, c_lines, offsets, topics)
    )
    why = ensure_package("kcat")
    if why:
        rows["kcat -P"] = {"unavailable": why}
    else:
        raw = work / f"raw-{c_size}.log"
        if not raw.exists():
            kit.write_file(raw, c_lines)
        rows["kcat -P"] = whole_file("kcat", kcat_argv, raw, c_size, offsets, topics)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=50_000)
    opts = parser.parse_args()
    offsets = kit.Offsets()
    topics: list[str] = []
    work = Path(tempfile.mkdtemp(prefix="bench-shippers-"))
    try:
        print(json.dumps(run(opts.lines, offsets, topics, work), indent=2))
    finally:
        offsets.close()
        kit.delete_topics(topics)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

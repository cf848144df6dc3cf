"""kafka2cassandra draining a backlog: peak RSS and rows/s over a topic filled beforehand.

A topic of ``--records`` envelopes (1,000,000 by default, six partitions, the real corpus
repeated over ten source hosts) is filled first; then ``kafka2cassandra poll`` starts,
as a process of its own with its shipped defaults, and drains it into a fresh keyspace.
Its peak resident set (the kernel's ``VmHWM``) is the figure that matters: it must be
bounded by the poller's settings (rows in flight, records per poll, fetch sizes), not by
the backlog. Goal: under 150 MB. The rate counts from the first record consumed to the
last row acknowledged.

With ``--against REV`` the same drain runs a second time with the code of another
revision (a git worktree of it, on the same interpreter and libraries), for a
before/after figure. Needs the local services (``make services-up``).

    .venv/bin/python bench/bench_backlog.py                       # 1,000,000 records
    .venv/bin/python bench/bench_backlog.py --records 200000 --against HEAD~3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import benchkit as kit
from logpipe_testkit.ports import free_port

PARTITIONS = 6
SOURCES = 10
GOAL_MB = 150.0


def envelopes(count: int) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) of ``count`` envelopes, made as they are sent (no list of a million)."""
    import re

    from logpipe.envelope import LogEntry, encode

    stamp = re.compile(rb"\[([^\]]+)\]")
    lines = kit.corpus_lines()
    times = [
        datetime.strptime(stamp.search(line).group(1).decode(), "%d/%b/%Y:%H:%M:%S %z").isoformat()
        for line in lines
    ]
    for i in range(count):
        n = i % len(lines)
        source = f"www{i % SOURCES}"
        entry = LogEntry(source, "www_access", times[n], lines[n].decode(), {})
        yield source.encode(), encode(entry)


def fill(topic: str, count: int) -> float:
    """Fill ``topic`` with ``count`` envelopes; the seconds it took."""
    from logpipe.config.connections import KafkaConnection
    from logpipe.kafka import open_producer

    kit.create_topic(topic, partitions=PARTITIONS, append_time=False)
    started = time.monotonic()
    producer = open_producer(KafkaConnection(bootstrap_servers=kit.BOOTSTRAP), topic)
    errors: list[BaseException] = []
    for key, value in envelopes(count):
        producer.send(key, value, lambda exc: exc is not None and errors.append(exc))
    if not producer.flush(600):
        raise RuntimeError("filling the topic did not finish")
    producer.close()
    if errors:
        raise RuntimeError(f"{len(errors)} envelopes not written: {errors[0]}")
    return time.monotonic() - started


def drain(topic: str, count: int, src: Path | None, timeout: float) -> dict[str, Any]:
    """Run ``kafka2cassandra poll`` over the filled topic until every row is written."""
    port = free_port()
    name = kit.unique("backlog")
    env = {"PYTHONPATH": str(src)} if src is not None else {}
    with kit.keyspace(name), tempfile.TemporaryDirectory(prefix="bench-backlog-") as work:
        argv = [
            kit.PYTHON, "-c", "from logpipe.kafka2cassandra.cli import main; main()", "poll",
            "--bootstrap-servers", kit.BOOTSTRAP, "--contact-points", kit.CONTACT_POINTS,
            "--topic", topic, "--keyspace", name, "--group-id", name,
            "--dlq-topic", f"{topic}_dlq", "--metrics-port", str(port), "--log-level", "warning",
        ]  # fmt: skip
        daemon = kit.Daemon(argv, Path(work) / "poller.log", env=env)
        try:
            kit.wait_ready(port, daemon, timeout=120)
            first = last = None
            written = 0.0
            #: RSS (MB) when each tenth of the rows was written: flat if memory is bounded.
            tenths: list[float] = []
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and daemon.alive():
                written = kit.scrape(port, "kafka2cassandra_rows_written_total")
                now = time.monotonic()
                if first is None and kit.scrape(port, "kafka2cassandra_messages_consumed_total"):
                    first = now
                while len(tenths) < 10 and written >= count * (len(tenths) + 1) / 10:
                    tenths.append(round(daemon.rss_mb() or float("nan"), 1))
                if written >= count:
                    last = now
                    break
                time.sleep(0.2)
            rss_at_end = daemon.rss_mb()
        finally:
            finished = daemon.stop(60)
    if last is None or first is None:
        raise RuntimeError(f"drained {written:.0f} of {count} rows: {finished.output[-1000:]}")
    seconds = max(last - first, 1e-9)
    return {
        "rows": int(written),
        "seconds": round(seconds, 2),
        "rows_per_s": round(written / seconds, 1),
        "peak_rss_mb": finished.peak_rss_mb,
        "rss_at_end_mb": round(rss_at_end or float("nan"), 1),
        "rss_by_tenth_mb": tenths,
    }


def worktree_src(rev: str, into: Path) -> Path:
    """The ``src`` folder of a checkout of ``rev`` (a git worktree in ``into``)."""
    subprocess.run(
        ["git", "-C", str(kit.ROOT), "worktree", "add", "--detach", str(into), rev],
        check=True,
        capture_output=True,
    )
    return into / "src"


def run(records: int, against: str | None = None, timeout: float = 1800.0) -> dict[str, Any]:
    """Fill one topic, drain it with this code (and with ``against``'s); the numbers."""
    topic = kit.unique("backlog")
    kit.say(f"filling {topic} with {records:,} envelopes ...")
    results: dict[str, Any] = {"records": records, "fill_seconds": round(fill(topic, records), 1)}
    try:
        kit.say("draining with this code ...")
        results["this code"] = drain(topic, records, None, timeout)
        if against:
            with tempfile.TemporaryDirectory(prefix="bench-backlog-rev-") as tmp:
                checkout = Path(tmp) / "checkout"
                try:
                    kit.say(f"draining with {against} ...")
                    src = worktree_src(against, checkout)
                    results[against] = drain(topic, records, src, timeout)
                finally:
                    subprocess.run(
                        ["git", "-C", str(kit.ROOT), "worktree", "remove", "--force",
                         str(checkout)],
                        capture_output=True,
                    )  # fmt: skip
    finally:
        kit.delete_topics([topic, f"{topic}_dlq"])
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--against", help="a git revision to drain the same backlog with")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--json", action="store_true")
    opts = parser.parse_args()
    results = run(opts.records, opts.against, opts.timeout)
    print(f"\nbacklog of {results['records']:,} records (filled in {results['fill_seconds']} s)")
    print(f"{'':24} {'rows':>9} {'seconds':>8} {'rows/s':>8} {'peak RSS':>9}")
    for label, row in results.items():
        if isinstance(row, dict):
            verdict = "ok" if row["peak_rss_mb"] < GOAL_MB else f"over {GOAL_MB:.0f} MB"
            print(
                f"{label:24} {row['rows']:>9} {row['seconds']:>8.1f} {row['rows_per_s']:>8.0f} "
                f"{row['peak_rss_mb']:>7.0f}MB  {verdict}"
            )
            print(f"{'':24} RSS (MB) at each tenth: {row['rss_by_tenth_mb']}")
    if opts.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    os.chdir(kit.ROOT)
    sys.exit(main())

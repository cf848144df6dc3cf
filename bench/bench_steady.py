"""Shippers following a log written at a steady rate, one line per write(): CPU and RSS.

What a web host pays all day is not a burst but a steady trickle: Apache appends each
request's line with a write() of its own. A writer process does the same to an empty
file, ``--rate`` lines/s (2,000 by default) for ``--seconds`` (60), each line stamped
with the current time and a sequence number (``logpipe_testkit.traffic.LogWriter``).
It paces itself by absolute deadlines (line ``i`` is due at ``start + i / rate``, so a
late line never shifts the ones after it) and reports the rate it achieved (lines
after the first over the time to the last) and how late its lines were against that
schedule, counted from its first line (p50, p99, max).

Each shipper is started on the empty file and is ready (connected, idle) before the
writer starts. The window is from ``--warmup`` seconds (5) after the writer's first
line to its last: over it, the shipper's own CPU time (user + system, all its threads,
from /proc through psutil) divided by the window's length is its share of one core,
and its RSS is sampled every half second (mean and peak). After the writer stops,
every line it wrote must be in the shipper's fresh one-partition topic (its end
offset); a shipper that lost lines is marked so.

Contenders, started as ``bench_shippers.py`` starts them: ``logs2kafka tail`` with
the kafka-python client and with the confluent client, each Kafka client alone
(``client_alone.py``: raw lines read every 0.1 s and produced with logs2kafka's
producer settings, nothing else: what the client costs with nothing else per line),
rsyslog imfile+omkafka, and Fluent Bit (when ``LOGPIPE_BENCH_FLUENT_BIT`` points at a
binary) with its default inotify watcher and with ``Inotify_Watcher false``. Rounds
interleave them; a figure is the median over the rounds (RSS peak: the highest).

Run alone (``make bench-steady``)::

    python bench/bench_steady.py [--rate 2000] [--seconds 60] [--warmup 5] [--runs 1]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bench_shippers as shippers
import benchkit as kit
from logpipe_testkit.traffic import LogWriter

#: Seconds to wait, once the writer stopped, for its last lines to reach Kafka.
DRAIN_TIMEOUT = 60.0
#: Seconds between two RSS samples of the shipper.
RSS_INTERVAL = 0.5


def contenders() -> dict[str, shippers.Starter | str]:
    """Each contender's starter, or why it cannot run here."""
    out: dict[str, shippers.Starter | str] = {
        shippers.TAIL["kafka-python"]: shippers.tail_starter("kafka-python")
    }
    out[shippers.TAIL["confluent"]] = (
        shippers.tail_starter("confluent")
        if shippers.has_confluent()
        else shippers.CONFLUENT_MISSING
    )
    out[shippers.ALONE["kafka-python"]] = shippers.client_alone_starter("kafka-python")
    out[shippers.ALONE["confluent"]] = (
        shippers.client_alone_starter("confluent")
        if shippers.has_confluent()
        else shippers.CONFLUENT_MISSING
    )
    why = shippers.ensure_package("rsyslog")
    out["rsyslog imfile+omkafka"] = why or shippers.start_rsyslog
    found = shippers.fluent_bit()
    for inotify, name in shippers.FLUENT_BIT.items():
        out[name] = found if isinstance(found, str) else shippers.fluent_bit_starter(found, inotify)
    return out


# --- the writer (a process of its own, so that nothing of the bench delays it) ---------


def write_steadily(path: Path, rate: float, seconds: float) -> dict[str, Any]:
    """Append stamped corpus lines to ``path``, one write() each, at ``rate`` for ``seconds``.

    Prints ``{"started": <epoch>}`` as it starts, so the bench can place its window.
    """
    writer = LogWriter(path, kit.corpus_lines(), kit.RUN_ID, rate)
    print(json.dumps({"started": time.time()}), flush=True)
    writer.start()
    time.sleep(seconds)
    written = writer.stop()
    times = [writer.appended[seq] for seq in range(written)]
    span = times[-1] - times[0] if written > 1 else 0.0
    late = sorted(t - (times[0] + i / rate) for i, t in enumerate(times))
    return {
        "written": written,
        "offered_rate": rate,
        "achieved_rate": round((written - 1) / span, 1) if span > 0 else float("nan"),
        "span_s": round(span, 3),
        "late_p50_ms": round(late[len(late) // 2] * 1000, 2) if late else float("nan"),
        "late_p99_ms": round(late[int(len(late) * 0.99)] * 1000, 2) if late else float("nan"),
        "late_max_ms": round(late[-1] * 1000, 2) if late else float("nan"),
    }


class Writer:
    """The writer process: started on ``path``, it says when it started and, at the end,
    how many lines it wrote at what rate."""

    def __init__(self, path: Path, rate: float, seconds: float) -> None:
        self.proc = subprocess.Popen(
            [kit.PYTHON, __file__, "--write", str(path), "--rate", str(rate),
             "--seconds", str(seconds)],
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line:
            self.proc.wait(timeout=10)
            raise RuntimeError(f"the writer exited {self.proc.returncode} before it started")
        self.started = float(json.loads(line)["started"])

    def result(self, timeout: float) -> dict[str, Any]:
        out, _ = self.proc.communicate(timeout=timeout)
        if self.proc.returncode != 0:
            raise RuntimeError(f"the writer exited {self.proc.returncode}")
        return dict(json.loads(out.strip().splitlines()[-1]))

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# --- one measurement -------------------------------------------------------------------


def measure(
    name: str,
    start: shippers.Starter,
    rate: float,
    seconds: float,
    warmup: float,
    offsets: kit.Offsets,
    topics: list[str],
) -> dict[str, Any]:
    """One shipper following the steady writer: CPU share and RSS over the window."""
    topic, work = shippers._fresh(name, topics)
    log = work / "access.log"
    log.touch()
    daemon, ready = start(log, topic, work)
    writer: Writer | None = None
    try:
        ready()
        writer = Writer(log, rate, seconds)
        begin, end = writer.started + warmup, writer.started + seconds
        _sleep_until(begin)
        cpu0, t0 = daemon.cpu_seconds(), time.time()
        rss: list[float] = []
        while (now := time.time()) < end:
            value = daemon.rss_mb()
            if value is not None:
                rss.append(value)
            time.sleep(min(RSS_INTERVAL, max(end - now, 0.0)))
        cpu1, t1 = daemon.cpu_seconds(), time.time()
        wrote = writer.result(timeout=seconds + 30)
        arrived, _ = offsets.wait_for(
            topic, wrote["written"], DRAIN_TIMEOUT, time.monotonic(), alive=daemon.alive
        )
    finally:
        if writer is not None:
            writer.kill()
        finished = daemon.stop()
        shutil.rmtree(work, ignore_errors=True)
    row: dict[str, Any] = {
        "cpu_pct": round((cpu1 - cpu0) / (t1 - t0) * 100, 2),
        "cpu_s": round(cpu1 - cpu0, 3),
        "window_s": round(t1 - t0, 2),
        "rss_mean_mb": round(statistics.fmean(rss), 1) if rss else float("nan"),
        "rss_peak_mb": round(max(rss), 1) if rss else float("nan"),
        "peak_rss_mb": finished.peak_rss_mb,
        "arrived": arrived,
        "expected": wrote["written"],
        "writer": wrote,
    }
    if arrived < wrote["written"]:
        row["incomplete"] = f"only {arrived:,} of {wrote['written']:,} lines arrived"
    return row


def _sleep_until(when: float) -> None:
    while (left := when - time.time()) > 0:
        time.sleep(left)


# --- rounds ----------------------------------------------------------------------------


def run(
    rate: float = 2000,
    seconds: float = 60,
    runs: int = 1,
    warmup: float = 5,
    say: Callable[[str], None] = kit.say,
) -> dict[str, Any]:
    """``runs`` interleaved rounds of every contender; the medians and the runs."""
    if seconds <= warmup:
        raise ValueError(f"--seconds ({seconds}) must be longer than --warmup ({warmup})")
    starters = contenders()
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in starters}
    offsets = kit.Offsets()
    topics: list[str] = []
    try:
        for r in range(runs):
            for name, start in starters.items():
                if isinstance(start, str):
                    continue
                say(f"  steady round {r + 1}/{runs}: {name}")
                try:
                    short = re.sub(r"[^a-z0-9]+", "_", name.lower())[:32].strip("_")
                    row = measure(short, start, rate, seconds, warmup, offsets, topics)
                except Exception as exc:
                    row = {"failed": f"{type(exc).__name__}: {str(exc)[:300]}"}
                say(f"    {_line(row)}")
                rounds[name].append(row)
    finally:
        offsets.close()
        kit.delete_topics(topics)
    return {
        "rate": rate,
        "seconds": seconds,
        "warmup": warmup,
        "runs": runs,
        "contenders": {
            name: summarize(rounds[name]) if not isinstance(start, str) else {"unavailable": start}
            for name, start in starters.items()
        },
    }


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the rounds; the highest RSS; the slowest writer; lost lines."""
    good = [r for r in rows if "cpu_pct" in r]
    if not good:
        reasons = [r.get("failed") for r in rows]
        return {"unavailable": next((x for x in reasons if x), "no measurement"), "runs": rows}
    out: dict[str, Any] = {
        "cpu_pct": round(kit.median([r["cpu_pct"] for r in good]), 2),
        "rss_mean_mb": round(kit.median([r["rss_mean_mb"] for r in good]), 1),
        "rss_peak_mb": max(r["rss_peak_mb"] for r in good),
        "writer_rate": min(r["writer"]["achieved_rate"] for r in good),
        "writer_late_p99_ms": max(r["writer"]["late_p99_ms"] for r in good),
        "arrived": sum(r["arrived"] for r in good),
        "expected": sum(r["expected"] for r in good),
        "runs": rows,
    }
    lost = [r["incomplete"] for r in good if "incomplete" in r]
    if lost:
        out["incomplete"] = "; ".join(lost)
    if len(good) < len(rows):
        out["failed_runs"] = len(rows) - len(good)
    return out


def _line(row: dict[str, Any]) -> str:
    if "cpu_pct" not in row:
        return f"unavailable: {row.get('unavailable') or row.get('failed')}"
    writer = row.get("writer") or {}
    rate = writer.get("achieved_rate", row.get("writer_rate"))
    return (
        f"{row['cpu_pct']:.2f}% of a core, RSS mean {row['rss_mean_mb']:.1f} MB"
        f" peak {row['rss_peak_mb']:.1f} MB; writer {rate:,.1f} lines/s;"
        f" {row['arrived']:,}/{row['expected']:,} lines in Kafka"
        + (f" ({row['incomplete']})" if "incomplete" in row else "")
    )


def table(steady: dict[str, Any]) -> str:
    """The steady-rate table (Markdown)."""
    lines = [
        "| shipper | % of one core | RSS mean (MB) | RSS peak (MB) | writer achieved"
        " (lines/s) | lines in Kafka |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, row in steady.get("contenders", {}).items():
        if "cpu_pct" not in row:
            lines.append(f"| {name} | unavailable: {row.get('unavailable')} | | | | |")
            continue
        arrived = (
            f"{row['arrived']:,} of {row['expected']:,}"
            if "incomplete" in row
            else f"all {row['expected']:,}"
        )
        lines.append(
            f"| {name} | {row['cpu_pct']:.2f} | {row['rss_mean_mb']:.1f} |"
            f" {row['rss_peak_mb']:.1f} | {row['writer_rate']:,.1f} | {arrived} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=2000, help="lines/s (default 2000)")
    parser.add_argument("--seconds", type=float, default=60, help="writing time (default 60)")
    parser.add_argument("--warmup", type=float, default=5, help="left out of the window")
    parser.add_argument("--runs", type=int, default=1, help="interleaved rounds")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--write", type=Path, help=argparse.SUPPRESS)  # the writer process
    opts = parser.parse_args()
    if opts.write:
        print(json.dumps(write_steadily(opts.write, opts.rate, opts.seconds)), flush=True)
        return
    kit.say(f"== steady {opts.rate:,.0f} lines/s for {opts.seconds:.0f} s, {opts.runs} round(s)")
    steady = run(opts.rate, opts.seconds, opts.runs, opts.warmup)
    if opts.json:
        opts.json.write_text(json.dumps(steady, indent=1, default=str) + "\n")
    kit.say(table(steady))


if __name__ == "__main__":
    main()

"""Sustained lines/s from a file into the local Kafka, and peak RSS: ``logs2kafka ship``
against the seed tutorial's forwarder (bench/baselines/tutorial_forwarder.py).

The file is the real corpus (tests/data/access-combined-real.log) repeated to LINES
lines; both contenders send it with acks=all to a fresh one-partition topic of the local
Kafka (logs2kafka with lz4, its defaults), each as a process of its own. The tutorial's
way (one synchronous send per line) is measured on its first TUTORIAL_LINES lines: it
would take many minutes for the whole file, and its rate does not depend on the length.
Every contender's records are counted in Kafka afterwards.

    .venv/bin/python bench/bench_ship.py [--lines 200000] [--runs 3] [--json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import tempfile
from pathlib import Path

from benchkit import (
    BENCH,
    BIN,
    BOOTSTRAP,
    PYTHON,
    Offsets,
    corpus_lines,
    create_topic,
    delete_topics,
    machine,
    median,
    repeated,
    run_process,
    say,
    unique,
    write_file,
)

TUTORIAL = re.compile(r"(\d+) lines in ([\d.]+) s")


def _shipped_record(output: str) -> dict | None:
    """The JSON log record ``logs2kafka ship`` ends with (full-precision numbers)."""
    for line in reversed(output.splitlines()):
        if line.startswith("{") and '"message": "shipped"' in line:
            return json.loads(line)
    return None


def ship_once(path: Path, lines: int, client: str, topics: list[str], offsets: Offsets) -> dict:
    topic = create_topic(unique(f"ship_{client.replace('-', '')}"))
    topics.append(topic)
    done = run_process(
        [
            BIN / "logs2kafka",
            "ship",
            path,
            "--topic",
            topic,
            "--bootstrap-servers",
            BOOTSTRAP,
            "--compression",
            "lz4",
            "--kafka-client",
            client,
            "--source",
            "bench",
            "--log-format",
            "json",
        ],
        timeout=900,
    )
    shipped = _shipped_record(done.output)
    if shipped is None or shipped["lines"] != lines or not shipped["complete"]:
        raise RuntimeError(f"unexpected ship output: {done.output[-1000:]}")
    seconds, cpu_seconds = shipped["seconds"], shipped["cpu_seconds"]
    arrived = offsets.total(topic)
    if arrived != lines:
        raise RuntimeError(f"{arrived} records in Kafka, {lines} expected")
    return {
        "lines_per_s": lines / seconds,
        "lines_per_cpu_s": lines / cpu_seconds if cpu_seconds else float("nan"),
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "wall_seconds": done.seconds,
        "peak_rss_mb": done.peak_rss_mb,
    }


def tutorial_once(path: Path, lines: int, topics: list[str], offsets: Offsets) -> dict:
    topic = create_topic(unique("tutorial"))
    topics.append(topic)
    done = run_process(
        [
            PYTHON,
            BENCH / "baselines" / "tutorial_forwarder.py",
            path,
            "--topic",
            topic,
            "--bootstrap-servers",
            BOOTSTRAP,
            "--limit",
            str(lines),
        ],
        timeout=900,
        env={"PYTHONWARNINGS": "ignore"},
    )
    found = TUTORIAL.search(done.output)
    if not found or int(found.group(1)) != lines:
        raise RuntimeError(f"unexpected tutorial output: {done.output[-1000:]}")
    arrived = offsets.total(topic)
    if arrived != lines:
        raise RuntimeError(f"{arrived} records in Kafka, {lines} expected")
    seconds = float(found.group(2))
    return {
        "lines_per_s": lines / seconds,
        "seconds": seconds,
        "wall_seconds": done.seconds,
        "peak_rss_mb": done.peak_rss_mb,
    }


def summarize(runs: list[dict]) -> dict:
    summary = {
        "lines_per_s": round(median([r["lines_per_s"] for r in runs])),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1),
        "runs": runs,
    }
    if all("lines_per_cpu_s" in r for r in runs):
        summary["lines_per_cpu_s"] = round(median([r["lines_per_cpu_s"] for r in runs]))
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--tutorial-lines", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args()

    clients = ["kafka-python"]
    if importlib.util.find_spec("confluent_kafka") is not None:
        clients.append("confluent")
    topics: list[str] = []
    offsets = Offsets()
    results: dict = {"machine": machine(), "lines": args.lines}
    with tempfile.TemporaryDirectory(prefix="bench-ship-") as tmp:
        path = write_file(Path(tmp) / "access.log", repeated(corpus_lines(), args.lines))
        say(f"file: {args.lines} lines, {path.stat().st_size / 1e6:.1f} MB")
        try:
            say(f"tutorial forwarder: {args.tutorial_lines} lines ...")
            results["tutorial"] = summarize(
                [tutorial_once(path, args.tutorial_lines, topics, offsets)]
            )
            for client in clients:
                runs = []
                for i in range(args.runs):
                    say(f"logs2kafka ship --kafka-client {client}: run {i + 1}/{args.runs} ...")
                    runs.append(ship_once(path, args.lines, client, topics, offsets))
                results[client] = summarize(runs)
        finally:
            offsets.close()
            delete_topics(topics)

    tutorial = results["tutorial"]["lines_per_s"]
    say("")
    # lines/s is wall clock (what a user waits); lines per CPU-second is the cost on the
    # host (all threads of the process), which other load on the machine disturbs less.
    say(
        f"{'contender':<34} {'lines/s':>10} {'x tutorial':>11} {'lines/CPU-s':>12} "
        f"{'peak RSS MB':>12}"
    )
    say(
        f"{'tutorial forwarder (sync send)':<34} {tutorial:>10,} {1.0:>11.1f} {'':>12} "
        f"{results['tutorial']['peak_rss_mb']:>12.1f}"
    )
    for client in clients:
        r = results[client]
        say(
            f"{'logs2kafka ship, ' + client:<34} {r['lines_per_s']:>10,} "
            f"{r['lines_per_s'] / tutorial:>11.1f} {r['lines_per_cpu_s']:>12,} "
            f"{r['peak_rss_mb']:>12.1f}"
        )
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

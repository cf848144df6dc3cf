"""Tailer alone: lines/s reading a backlog (poll + ack), peak RSS, and CPU while idle.

No Kafka here: this is the ceiling the file-following half puts on logs2kafka, and what it
costs on a web host when nothing is written.  Each measurement runs in a fresh child
process so its peak RSS is its own.

    .venv/bin/python bench/bench_tail.py [--lines 500000] [--idle-files 20] [--idle-seconds 5]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data" / "access-combined-real.log"


def build_file(path: Path, lines: int) -> int:
    """``lines`` lines of the real corpus, repeated as needed; returns the size in bytes."""
    corpus = [line + b"\n" for line in CORPUS.read_bytes().splitlines() if line.strip()]
    with open(path, "wb") as fh:
        written = 0
        while written < lines:
            batch = corpus[: lines - written]
            fh.write(b"".join(batch))
            written += len(batch)
    return path.stat().st_size


def child_backlog(path: str, state: str, max_lines: int) -> dict:
    from logpipe.logs2kafka.checkpoint import CheckpointStore
    from logpipe.logs2kafka.tail import Tailer

    tailer = Tailer([path], CheckpointStore(state), from_beginning=True)
    total = 0
    started = time.perf_counter()
    cpu = time.process_time()
    while True:
        lines = tailer.poll(max_lines)
        if not lines:
            break
        for line in lines:
            tailer.ack(line.file_id, line.end_offset)
        total += len(lines)
    tailer.flush_checkpoints()
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    tailer.close()
    return {"lines": total, "seconds": elapsed, "cpu_seconds": cpu}


def child_idle(directory: str, state: str, seconds: float) -> dict:
    from logpipe.logs2kafka.checkpoint import CheckpointStore
    from logpipe.logs2kafka.tail import Tailer

    tailer = Tailer([f"{directory}/*.log"], CheckpointStore(state))
    cpu = time.process_time()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not tailer.poll(1000):
            tailer.wait(min(1.0, max(0.0, deadline - time.monotonic())))
    cpu = time.process_time() - cpu
    files = len(tailer.files())
    tailer.close()
    return {"files": files, "seconds": seconds, "cpu_seconds": cpu}


def run_child(*args: str) -> tuple[dict, float]:
    """Run this script as a child; returns its JSON result and its peak RSS in MB."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args], check=True, capture_output=True, text=True
    ).stdout
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the largest of any child so far: children run smallest first.
    return json.loads(out), max(peak, before) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=500_000)
    parser.add_argument("--max-lines", type=int, default=1000, help="poll budget")
    parser.add_argument("--idle-files", type=int, default=20)
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        kind, *rest = args.child
        if kind == "backlog":
            result = child_backlog(rest[0], rest[1], int(rest[2]))
        else:
            result = child_idle(rest[0], rest[1], float(rest[2]))
        print(json.dumps(result))
        return 0

    with tempfile.TemporaryDirectory(prefix="bench-tail-") as tmp:
        base = Path(tmp)
        idle_dir = base / "idle"
        idle_dir.mkdir()
        for i in range(args.idle_files):
            build_file(idle_dir / f"vhost{i}.log", 1000)
        idle, idle_rss = run_child("idle", str(idle_dir), str(base / "s1"), str(args.idle_seconds))
        print(
            f"idle: {idle['files']} files followed for {idle['seconds']:.0f} s: "
            f"{100 * idle['cpu_seconds'] / idle['seconds']:.2f}% of one core, "
            f"peak RSS {idle_rss:.0f} MB"
        )

        log = base / "access.log"
        size = build_file(log, args.lines)
        backlog, rss = run_child("backlog", str(log), str(base / "s2"), str(args.max_lines))
        rate = backlog["lines"] / backlog["seconds"]
        print(
            f"backlog: {backlog['lines']:,} lines ({size / 1e6:.0f} MB) read and acknowledged "
            f"in {backlog['seconds']:.2f} s: {rate:,.0f} lines/s, "
            f"{size / 1e6 / backlog['seconds']:.0f} MB/s, "
            f"cpu {backlog['cpu_seconds']:.2f} s "
            f"({backlog['lines'] / backlog['cpu_seconds']:,.0f} lines per cpu-second), "
            f"peak RSS {rss:.0f} MB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Helpers for the logs2kafka tests: the daemon as a process, a log writer, a topic reader.

The daemon runs as the real console script (``.venv/bin/logs2kafka``) so signals, exit
codes and crashes are those an operator sees; the topic is read back with kafka-python.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

from logpipe.config.connections import KafkaConnection
from logpipe.envelope import LogEntry, decode
from logpipe.kafka import build_client_config, create_topic
from logpipe.logs2kafka.checkpoint import CheckpointStore

#: Both Kafka clients behind logpipe.kafka: the guarantees are tested with each.
CLIENTS = ["kafka-python", "confluent"]
BIN = Path(sys.executable).parent
LOGS2KAFKA = str(BIN / "logs2kafka")


def make_topic(bootstrap: str, name: str) -> str:
    """A fresh one-partition topic (one partition: one total order to check)."""
    create_topic(KafkaConnection(bootstrap_servers=bootstrap), name, partitions=1)
    return name


def access_line(tag: str, n: int) -> bytes:
    """A combined-format line whose path says which writer wrote it and its number."""
    return (
        f'127.0.0.1 - - [25/Nov/2026:08:00:00 +0000] "GET /{tag}/{n} HTTP/1.1" 200 {n} '
        f'"-" "logpipe-test"\n'
    ).encode()


def seq_of(entry: LogEntry) -> tuple[str, int]:
    """(tag, n) of a line made by ``access_line``."""
    path = entry.log.split('"GET /', 1)[1].split(" ", 1)[0]
    tag, n = path.split("/")
    return tag, int(n)


class TopicReader:
    """Reads a one-partition topic from the start, incrementally."""

    def __init__(self, bootstrap: str, topic: str, conn: KafkaConnection | None = None) -> None:
        security = build_client_config(conn) if conn is not None else {}
        security.pop("bootstrap_servers", None)
        self.consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            **security,
            enable_auto_commit=False,
            group_id=None,
            auto_offset_reset="earliest",
        )
        self.tp = TopicPartition(topic, 0)
        self.consumer.assign([self.tp])
        self.consumer.seek_to_beginning(self.tp)
        self.entries: list[LogEntry] = []

    def poll(self) -> list[LogEntry]:
        got = self.consumer.poll(timeout_ms=500, max_records=5000)
        for records in got.values():
            self.entries.extend(decode(r.value) for r in records)
        return self.entries

    def wait_for(self, predicate: Callable[[list[LogEntry]], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.poll()):
                return True
        return predicate(self.poll())

    def wait_count(self, count: int, timeout: float) -> list[LogEntry]:
        self.wait_for(lambda e: len(e) >= count, timeout)
        return self.entries

    def close(self) -> None:
        self.consumer.close()


@dataclass
class Daemon:
    """``logs2kafka tail`` in a process of its own; its stderr goes to a file."""

    args: list[str]
    log_path: Path
    proc: subprocess.Popen | None = None

    def start(self) -> Daemon:
        env = dict(os.environ, LOG_FORMAT="json", LOG_LEVEL="info")
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in wait()
        self.proc = subprocess.Popen(
            [LOGS2KAFKA, "tail", *self.args],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            env=env,
        )
        return self

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.returncode is not None:
                self._log.close()

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; SIGKILL if it does not go (then the test fails on the code)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.signal(signal.SIGTERM)
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.wait(10)
            return -9

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


def tail_args(
    topic: str,
    bootstrap: str,
    state_dir: Path,
    *paths: Path | str,
    source: str = "testhost",
    **extra: str,
) -> list[str]:
    """``logs2kafka tail`` arguments: ``paths`` (files or patterns) shipped as ``source``;
    each of ``extra`` is an option (``from_beginning=""`` is the flag alone)."""
    args = [
        *(str(p) for p in paths),
        "--topic",
        topic,
        "--bootstrap-servers",
        bootstrap,
        "--state-dir",
        str(state_dir),
        "--source",
        source,
        "--linger-ms",
        "5",
    ]
    for key, value in extra.items():
        flag = "--" + key.replace("_", "-")
        args.extend([flag] if value == "" else [flag, value])
    return args


def empty_log_args(
    topic: str, bootstrap: str, tmp_path: Path, **extra: str
) -> tuple[Path, Path, list[str]]:
    """An empty ``access.log`` in ``tmp_path``, a state directory beside it, and the
    arguments shipping the log from its beginning: (log, state_dir, args)."""
    log, state = tmp_path / "access.log", tmp_path / "state"
    log.touch()
    return log, state, tail_args(topic, bootstrap, state, log, from_beginning="", **extra)


def assert_complete_in_order(entries: list[LogEntry], expected: dict[str, int]) -> None:
    """Every (tag, n) for n < expected[tag] present; per tag, first arrivals in order."""
    seen: dict[str, list[int]] = {}
    for entry in entries:
        tag, n = seq_of(entry)
        seen.setdefault(tag, []).append(n)
    for tag, count in expected.items():
        got = seen.get(tag, [])
        missing = sorted(set(range(count)) - set(got))
        assert not missing, f"{tag}: {len(missing)} lines missing, first {missing[:10]}"
        firsts: list[int] = []
        known: set[int] = set()
        for n in got:
            if n not in known:
                known.add(n)
                firsts.append(n)
        assert firsts == sorted(firsts), f"{tag}: lines out of order"


def duplicates(entries: list[LogEntry]) -> int:
    keys = [seq_of(e) for e in entries]
    return len(keys) - len(set(keys))


def end_offsets(path: Path) -> dict[int, int]:
    """Line number -> byte offset just after its newline."""
    ends, offset = {}, 0
    for n, raw in enumerate(path.read_bytes().splitlines(keepends=True)):
        offset += len(raw)
        ends[n] = offset
    return ends


def checkpoint_offset(state_dir: Path, log: Path) -> int:
    entries = [c for c in CheckpointStore(state_dir).all() if c.path == str(log)]
    assert entries, "no checkpoint written"
    return entries[0].offset

"""Kafka down across logrotate's rotations, with a plain path (the shipped defaults).

A broker of the test's own (``separate_services``: Kafka only) is stopped while writers
append and logrotate rotates the way Debian does.  One daemon runs through the outage and
two rename rotations (the first file ends up compressed, ``access.log.2.gz``); another is
stopped during the outage, its file is rotated and compressed at once while it is down
(``access.log.1.gz``), and it is started again once Kafka is back.  Every line arrives.
"""

from __future__ import annotations

import gzip
import os
import shutil
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from logpipe_testkit.ports import free_port
from tests.support.forwarder import (
    Daemon,
    TopicReader,
    access_line,
    assert_complete_in_order,
    make_topic,
    tail_args,
)

pytestmark = pytest.mark.integration

MAX_PENDING = 200


class Writer(threading.Thread):
    """About 200 lines a second, each batch appended to whatever file the path names now
    (a server that reopens its log at once after a rotation)."""

    def __init__(self, path: Path, tag: str) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.tag = tag
        self.count = 0
        self.lock = threading.Lock()  # held by a rotation: no write in the middle of it
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            with self.lock, open(self.path, "ab") as f:
                f.write(b"".join(access_line(self.tag, self.count + i) for i in range(10)))
                self.count += 10
            self.stop.wait(0.05)


def compress(path: Path, target: Path) -> None:
    with open(path, "rb") as src, gzip.open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(path)


def debian_rotate(writer: Writer) -> None:
    """``create`` + ``compress`` + ``delaycompress``: .1 -> .2.gz, log -> .1, new log."""
    log = writer.path
    with writer.lock:
        first = log.with_name(log.name + ".1")
        if first.exists():
            compress(first, log.with_name(log.name + ".2.gz"))
        os.rename(log, first)
        log.touch()


def compress_rotate(writer: Writer) -> None:
    """``create`` + ``compress`` without delay: log -> .1.gz at once, new log."""
    log = writer.path
    with writer.lock:
        os.rename(log, log.with_name(log.name + ".1"))
        log.touch()
    compress(log.with_name(log.name + ".1"), log.with_name(log.name + ".1.gz"))


def metric(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


def test_outage_across_rename_rotations_and_a_compressed_one(
    separate_services, unique_name, tmp_path
):
    pair = separate_services
    pair.ctl("start-kafka")
    bootstrap = pair.kafka_bootstrap
    topic = make_topic(bootstrap, unique_name("rot_outage"))
    down_topic = make_topic(bootstrap, unique_name("rot_outage_down"))
    logs = tmp_path / "logs"
    logs.mkdir()
    log, down_log = logs / "access.log", logs / "other.log"
    log.touch()
    down_log.touch()
    port = free_port()
    common = {"from_beginning": "", "max_pending": str(MAX_PENDING), "shutdown_timeout": "3"}
    daemon = Daemon(
        tail_args(topic, bootstrap, tmp_path / "state", log, metrics_port=str(port), **common),
        tmp_path / "daemon.log",
    ).start()
    down_args = tail_args(down_topic, bootstrap, tmp_path / "down-state", down_log, **common)
    down = Daemon(down_args, tmp_path / "down.log").start()
    writer, down_writer = Writer(log, "w"), Writer(down_log, "d")
    reader = TopicReader(bootstrap, topic)
    down_reader = TopicReader(bootstrap, down_topic)
    again: Daemon | None = None
    try:
        writer.start()
        down_writer.start()
        assert reader.wait_for(lambda e: len(e) >= 300, 60), daemon.log_text()
        assert down_reader.wait_for(lambda e: len(e) >= 300, 60), down.log_text()
        pair.ctl("stop-kafka")
        time.sleep(3)  # the pending bound fills; lines pile up in the files
        assert down.stop(15) == 0, down.log_text()  # stopped with lines unshipped
        debian_rotate(writer)
        compress_rotate(down_writer)
        time.sleep(3)
        debian_rotate(writer)  # the first file is now only access.log.2.gz
        time.sleep(3)
        assert sorted(os.listdir(logs)) == [
            "access.log",
            "access.log.1",
            "access.log.2.gz",
            "other.log",
            "other.log.1.gz",
        ]
        assert metric(port, "logs2kafka_bytes_unread{") > 0
        pair.ctl("start-kafka")
        again = Daemon(down_args, tmp_path / "down-again.log").start()
        time.sleep(2)
        writer.stop.set()
        down_writer.stop.set()
        writer.join(10)
        down_writer.join(10)
        entries = reader.wait_count(writer.count, 120)
        down_entries = down_reader.wait_count(down_writer.count, 120)
        assert metric(port, "logs2kafka_bytes_lost_total") == 0
    finally:
        writer.stop.set()
        down_writer.stop.set()
        daemon.stop()
        down.stop()
        if again is not None:
            again.stop()
        reader.close()
        down_reader.close()
    assert_complete_in_order(entries, {"w": writer.count})
    assert_complete_in_order(down_entries, {"d": down_writer.count})
    assert again is not None and "other.log.1.gz" in again.log_text()

"""logs2kafka tail while the broker is stopped for 20 s under load.

The broker stopped is one of the test's own (``separate_services``), never the shared
one that other tests, maybe running at the same time, use.
"""

from __future__ import annotations

import signal
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from logpipe_testkit.ports import free_port
from tests.support.forwarder import (
    CLIENTS,
    Daemon,
    TopicReader,
    access_line,
    assert_complete_in_order,
    checkpoint_offset,
    end_offsets,
    make_topic,
    seq_of,
    tail_args,
)

pytestmark = pytest.mark.integration

MAX_PENDING = 1000


def http_get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def metric(port: int, name: str) -> float:
    _status, text = http_get(port, "/metrics")
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


class Writer(threading.Thread):
    """About 200 lines a second until stopped."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.count = 0
        self.stop = threading.Event()

    def run(self) -> None:
        with open(self.path, "ab", buffering=0) as f:
            while not self.stop.is_set():
                for _ in range(10):
                    f.write(access_line("w", self.count))
                    self.count += 1
                self.stop.wait(0.05)


@pytest.mark.parametrize("client", CLIENTS)
def test_broker_down_20s_under_load_nothing_missing(
    client, separate_services, unique_name, tmp_path
):
    """One daemon rides the outage out; another is stopped (SIGTERM) in the middle of it."""
    pair = separate_services
    pair.ctl("start-kafka")
    kafka_bootstrap = pair.kafka_bootstrap
    topic = make_topic(kafka_bootstrap, unique_name("outage"))
    quit_topic = make_topic(kafka_bootstrap, unique_name("outage_quit"))
    log, quit_log = tmp_path / "access.log", tmp_path / "quit.log"
    log.touch()
    quit_log.touch()
    port = free_port()
    args = tail_args(
        topic,
        kafka_bootstrap,
        tmp_path / "state",
        log,
        from_beginning="",
        max_pending=str(MAX_PENDING),
        metrics_port=str(port),
        unhealthy_after="5",
        kafka_client=client,
    )
    quit_args = tail_args(
        quit_topic,
        kafka_bootstrap,
        tmp_path / "quit-state",
        quit_log,
        from_beginning="",
        shutdown_timeout="5",
        kafka_client=client,
    )
    daemon = Daemon(args, tmp_path / "daemon.log").start()
    quitter = Daemon(quit_args, tmp_path / "quitter.log").start()
    reader = TopicReader(kafka_bootstrap, topic)
    quit_reader = TopicReader(kafka_bootstrap, quit_topic)
    writer, quit_writer = Writer(log), Writer(quit_log)
    stopped = False
    try:
        writer.start()
        quit_writer.start()
        assert reader.wait_for(lambda e: len(e) >= 500, 60), daemon.log_text()
        assert quit_reader.wait_for(lambda e: len(e) >= 500, 60), quitter.log_text()
        reader.close()
        quit_reader.close()
        assert http_get(port, "/healthz")[0] == 200
        pair.ctl("stop-kafka")
        stopped = True
        down_at = time.monotonic()
        while time.monotonic() - down_at < 20:
            time.sleep(1)
            # Reading pauses at the bound: memory stays bounded however long Kafka is down.
            assert metric(port, "logs2kafka_pending_lines") <= MAX_PENDING
            if quitter.proc.poll() is None and time.monotonic() - down_at > 8:
                signalled = time.monotonic()
                quitter.signal(signal.SIGTERM)
                assert quitter.wait(15) == 0, quitter.log_text()
                took = time.monotonic() - signalled
                assert took < 6, f"stopped in {took:.1f} s with --shutdown-timeout 5"
                quit_writer.stop.set()
        assert quitter.proc.poll() is not None
        # The lines written meanwhile show as bytes behind for the file.
        _status, text = http_get(port, "/metrics")
        behind = [line for line in text.splitlines() if line.startswith("logs2kafka_bytes_behind{")]
        assert behind and str(log) in behind[0] and float(behind[0].split()[-1]) > 0, behind
        # Kafka down for longer than --unhealthy-after: not ready, but alive (the loop
        # turns; a restart would not bring Kafka back)
        assert http_get(port, "/healthz")[0] == 200
        assert http_get(port, "/readyz")[0] == 503
    finally:
        if stopped:
            pair.ctl("start-kafka")
    try:
        time.sleep(3)
        writer.stop.set()
        writer.join(10)
        reader = TopicReader(kafka_bootstrap, topic)
        entries = reader.wait_count(writer.count, 120)
        assert http_get(port, "/healthz")[0] == 200
        deadline = time.monotonic() + 10  # metrics are published once a second
        while metric(port, "logs2kafka_lines_shipped_total") < writer.count:
            assert time.monotonic() < deadline, "lines_shipped_total below lines written"
            time.sleep(0.5)
        assert daemon.stop() == 0, daemon.log_text()
        # The stopped daemon's checkpoint covers only lines Kafka has: nothing after it
        # was lost, nothing before it is missing.
        covered = checkpoint_offset(tmp_path / "quit-state", quit_log)
        quit_reader = TopicReader(kafka_bootstrap, quit_topic)
        ends = end_offsets(quit_log)
        expected = {n for n, end in ends.items() if end <= covered}
        quit_reader.wait_for(lambda e: expected <= {seq_of(x)[1] for x in e}, 60)
        assert expected <= {seq_of(x)[1] for x in quit_reader.entries}
    finally:
        writer.stop.set()
        quit_writer.stop.set()
        daemon.stop()
        quitter.stop()
        reader.close()
        quit_reader.close()
    assert_complete_in_order(entries, {"w": writer.count})
    text = daemon.log_text()
    assert text.count('"kafka unreachable"') == 1, text[-3000:]
    assert text.count('"kafka reachable again"') == 1, text[-3000:]

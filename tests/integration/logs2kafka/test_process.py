"""logs2kafka tail as a process: kill -9 and restart, SIGTERM.

The checkpoint is the promise: a line before it was acknowledged by Kafka; a line after
it is sent (again) by the next start. So after a crash nothing is missing and the only
duplicates are the lines past the checkpoint; after SIGTERM there are none.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.support.forwarder import (
    CLIENTS,
    Daemon,
    TopicReader,
    access_line,
    assert_complete_in_order,
    checkpoint_offset,
    duplicates,
    empty_log_args,
    end_offsets,
    make_topic,
    seq_of,
    tail_args,
)

pytestmark = pytest.mark.integration

TOTAL = 6000
MAX_PENDING = 500


class Writer(threading.Thread):
    """Appends TOTAL numbered lines, about 2,000 a second."""

    def __init__(self, path: Path, total: int = TOTAL) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.total = total
        self.written = 0

    def run(self) -> None:
        with open(self.path, "ab", buffering=0) as f:
            for n in range(self.total):
                f.write(access_line("w", n))
                self.written = n + 1
                if n % 20 == 19:
                    time.sleep(0.01)


def first_run(
    bootstrap: str, topic: str, args: list[str], log: Path, tmp_path: Path
) -> tuple[TopicReader, Daemon, Daemon, Writer]:
    """A reader of ``topic``, a first daemon started, a second one to start after it, and
    a writer of ``log`` to start."""
    reader = TopicReader(bootstrap, topic)
    first = Daemon(args, tmp_path / "daemon1.log").start()
    second = Daemon(args, tmp_path / "daemon2.log")
    return reader, first, second, Writer(log)


def checkpointed(state: Path, log: Path) -> int:
    """The checkpointed offset of ``log``, 0 before the first write."""
    try:
        return checkpoint_offset(state, log)
    except (AssertionError, OSError, ValueError):
        return 0


@pytest.mark.parametrize("client", CLIENTS)
def test_kill_9_then_restart_loses_nothing(client, kafka_bootstrap, unique_name, tmp_path):
    topic = make_topic(kafka_bootstrap, unique_name("kill9"))
    log, state, args = empty_log_args(
        topic, kafka_bootstrap, tmp_path, max_pending=str(MAX_PENDING), kafka_client=client
    )
    reader, first, second, writer = first_run(kafka_bootstrap, topic, args, log, tmp_path)
    try:
        writer.start()
        assert reader.wait_for(lambda e: len(e) >= 2000, 60), first.log_text()
        # Killed once the checkpoint has moved while shipping (on a busy machine the first
        # lines can all be shipped in one burst before its first write).
        deadline = time.monotonic() + 30
        while checkpointed(state, log) == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        first.proc.kill()  # SIGKILL: no flush, no checkpoint write
        assert first.wait(10) == -signal.SIGKILL
        time.sleep(1.5)  # let everything the dead process produced be readable
        before = {seq_of(e)[1] for e in reader.poll()}
        covered = checkpoint_offset(state, log)
        assert covered > 0, first.log_text()
        ends = end_offsets(log)
        # The checkpoint never runs ahead of Kafka: every line before it is in the topic.
        assert all(n in before for n, end in ends.items() if end <= covered)
        resent = {n for n in before if ends[n] > covered}
        second.start()
        writer.join(30)
        entries = reader.wait_count(TOTAL + len(resent), 90)
        assert second.stop() == 0, second.log_text()
    finally:
        first.stop()
        second.stop()
        reader.close()
    assert_complete_in_order(entries, {"w": TOTAL})
    # Duplicates are exactly the lines past the checkpoint (acknowledged after its last
    # write, or in flight): at most the pending bound plus a few seconds of lines at this
    # writer's ~2,000 lines/s (one checkpoint interval of 1 s, and a busy machine's delays).
    assert duplicates(entries) == len(resent)
    assert len(resent) <= MAX_PENDING + 3 * 2000


@pytest.mark.parametrize("client", CLIENTS)
def test_sigterm_exits_0_in_time_with_a_checkpoint_covering_every_acked_line(
    client, kafka_bootstrap, unique_name, tmp_path
):
    topic = make_topic(kafka_bootstrap, unique_name("sigterm"))
    log, state, args = empty_log_args(
        topic, kafka_bootstrap, tmp_path, shutdown_timeout="10", kafka_client=client
    )
    reader, first, second, writer = first_run(kafka_bootstrap, topic, args, log, tmp_path)
    try:
        writer.start()
        assert reader.wait_for(lambda e: len(e) >= 1500, 60), first.log_text()
        signalled = time.monotonic()
        first.signal(signal.SIGTERM)
        code = first.wait(15)
        took = time.monotonic() - signalled
        assert code == 0, first.log_text()
        assert took < 10, f"stopped in {took:.1f} s, over --shutdown-timeout"
        time.sleep(1.0)
        shipped = {seq_of(e)[1] for e in reader.poll()}
        covered = checkpoint_offset(state, log)
        ends = end_offsets(log)
        assert shipped == {n for n, end in ends.items() if end <= covered}
        second.start()
        writer.join(30)
        entries = reader.wait_count(TOTAL, 90)
        assert second.stop() == 0, second.log_text()
        entries = reader.wait_count(TOTAL + 1, 2)
    finally:
        first.stop()
        second.stop()
        reader.close()
    assert_complete_in_order(entries, {"w": TOTAL})
    assert duplicates(entries) == 0


@pytest.mark.parametrize("client", CLIENTS)
def test_started_while_kafka_is_unreachable_waits_quietly_and_stops_clean(client, tmp_path):
    """A host may boot before Kafka answers: the daemon waits (saying so once), keeps
    its start position, and still stops on SIGTERM with exit 0."""
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    log, state = tmp_path / "access.log", tmp_path / "state"
    log.write_bytes(b"".join(access_line("w", n) for n in range(10)))
    args = tail_args(
        "never", f"127.0.0.1:{closed_port}", state, log, from_beginning="", kafka_client=client
    )
    daemon = Daemon(args, tmp_path / "daemon.log").start()
    try:
        deadline = time.monotonic() + 30
        while '"kafka unreachable"' not in daemon.log_text():
            assert time.monotonic() < deadline, daemon.log_text()
            assert daemon.proc.poll() is None, daemon.log_text()
            time.sleep(0.2)
        time.sleep(5)  # several more connection attempts
        signalled = time.monotonic()
        daemon.signal(signal.SIGTERM)
        assert daemon.wait(25) == 0, daemon.log_text()
        assert time.monotonic() - signalled < 20
    finally:
        daemon.stop()
    assert daemon.log_text().count('"kafka unreachable"') == 1
    assert checkpoint_offset(state, log) == 0  # nothing shipped, nothing skipped

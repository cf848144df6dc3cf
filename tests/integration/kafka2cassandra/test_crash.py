"""kill -9 in the middle of a stream, then a restart: nothing lost; in event mode no
duplicate either; in now mode duplicates only among the records after the last commit."""

from __future__ import annotations

import signal
import time
from collections import Counter

import pytest

from tests.support.k2c import (
    all_logs,
    committed_offsets,
    end_offsets,
    entries,
    keyspace,
    make_topic,
    poller_args,
    poller_process,
    produce_entries,
    wait_until,
)

pytestmark = pytest.mark.integration

N = 20_000


@pytest.mark.parametrize(("mode", "static"), [("event", True), ("now", True), ("event", False)])
def test_kill_9_mid_stream_then_restart(
    mode, static, kafka_bootstrap, cassandra_contact_points, unique_name, tmp_path
):
    topic, ks, group = unique_name("crash"), unique_name("crash"), unique_name("crash")
    sent = entries(N, sources=4)
    make_topic(kafka_bootstrap, topic, partitions=4)
    produce_entries(kafka_bootstrap, topic, sent)
    args = poller_args(
        topic, ks, group, "--log-id", mode, "--batch-rows", "1", "--commit-interval", "0.5",
        # One write at a time: slow enough that the kill lands mid-stream however fast
        # the machine is (at full speed the whole topic is stored in about a second).
        "--max-writes-in-flight", "1",
    )  # fmt: skip
    if static:
        # Static membership: the restarted process takes the killed one's place at once;
        # a dynamic member's partitions wait for its session (45 s) to time out.
        args += ["--group-instance-id", "pod-0"]
    log = tmp_path / "poller.log"
    with keyspace(cassandra_contact_points, ks) as store:
        first = poller_process(kafka_bootstrap, cassandra_contact_points, *args, log_path=log)
        try:
            assert wait_until(lambda: len(all_logs(store, ks)) >= N // 5, 90, 0.2)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        rows_at_kill = len(all_logs(store, ks))
        committed_at_kill = sum(committed_offsets(kafka_bootstrap, group, topic).values())
        assert rows_at_kill < N, "the stream was not interrupted in the middle"
        assert committed_at_kill <= rows_at_kill

        second = poller_process(kafka_bootstrap, cassandra_contact_points, *args, log_path=log)
        try:
            end = end_offsets(kafka_bootstrap, topic)
            assert wait_until(lambda: committed_offsets(kafka_bootstrap, group, topic) == end, 240)
        finally:
            second.send_signal(signal.SIGTERM)
            started = time.monotonic()
            assert second.wait(30) == 0
            assert time.monotonic() - started < 20

        logs = all_logs(store, ks)
        expected = sorted(e.log for e in sent)
        assert sorted(set(logs)) == expected  # nothing missing
        duplicates = len(logs) - N
        if mode == "event":
            assert duplicates == 0
        else:
            # Only records after the last commit before the kill can be written twice.
            assert 0 <= duplicates <= N - committed_at_kill
            assert all(n <= 2 for n in Counter(logs).values())

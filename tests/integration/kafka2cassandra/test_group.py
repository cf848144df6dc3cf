"""Two pollers in one group; one is stopped in the middle of the stream: nothing lost."""

from __future__ import annotations

import signal
import threading
import time

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

N = 12_000


def test_two_pollers_one_stopped_mid_stream(
    kafka_bootstrap, cassandra_contact_points, unique_name, tmp_path
):
    topic, ks, group = unique_name("group"), unique_name("group"), unique_name("group")
    sent = entries(N, sources=8)
    make_topic(kafka_bootstrap, topic, partitions=4)
    args = poller_args(topic, ks, group, "--log-id", "event", "--shutdown-timeout", "15")

    def trickle() -> None:  # ~20 s of traffic
        for start in range(0, N, 600):
            produce_entries(kafka_bootstrap, topic, sent[start : start + 600])
            time.sleep(1.0)

    with keyspace(cassandra_contact_points, ks) as store:
        a = poller_process(
            kafka_bootstrap, cassandra_contact_points, *args, "--group-instance-id", "pod-a",
            log_path=tmp_path / "a.log",
        )  # fmt: skip
        b = poller_process(
            kafka_bootstrap, cassandra_contact_points, *args, "--group-instance-id", "pod-b",
            log_path=tmp_path / "b.log",
        )  # fmt: skip
        producer = threading.Thread(target=trickle)
        try:
            producer.start()
            assert wait_until(lambda: len(all_logs(store, ks)) >= N // 3, 90)
            a.send_signal(signal.SIGTERM)
            started = time.monotonic()
            assert a.wait(30) == 0
            assert time.monotonic() - started < 15
            producer.join(120)
            end = end_offsets(kafka_bootstrap, topic)
            assert sum(end.values()) == N
            # b inherits a's partitions once a's static membership has left or expired.
            assert wait_until(
                lambda: committed_offsets(kafka_bootstrap, group, topic) == end, 150
            ), (tmp_path / "b.log").read_text()[-3000:]
        finally:
            for proc in (a, b):
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            assert b.wait(30) == 0
            producer.join(120)
        assert sorted(all_logs(store, ks)) == sorted(e.log for e in sent)

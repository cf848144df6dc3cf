"""logs2kafka tail while the broker is frozen for 20 s under load (SIGSTOP, then SIGCONT).

A frozen broker (a long GC pause, a stalled VM, a stuck disk) keeps its connections open
and answers nothing, so the producer learns of it only from its own timeouts, not from a
refused connection as when the broker is stopped (test_outage.py). The daemon must stay
up and ship every line once, in order, when the broker answers again. The broker frozen
is one of the test's own (``separate_services``).
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from logpipe_testkit.ports import free_port
from tests.integration.logs2kafka.test_outage import MAX_PENDING, Writer, http_get, metric
from tests.support.forwarder import (
    CLIENTS,
    Daemon,
    TopicReader,
    assert_complete_in_order,
    make_topic,
    seq_of,
    tail_args,
)

pytestmark = pytest.mark.integration

FROZEN_SECONDS = 20.0


@pytest.mark.parametrize("client", CLIENTS)
def test_broker_frozen_20s_under_load_every_line_once(
    client, separate_services, unique_name, tmp_path
):
    pair = separate_services
    pair.ctl("start-kafka")
    bootstrap = pair.kafka_bootstrap
    topic = make_topic(bootstrap, unique_name("frozen"))
    log = tmp_path / "access.log"
    log.touch()
    port = free_port()
    args = tail_args(
        topic,
        bootstrap,
        tmp_path / "state",
        log,
        from_beginning="",
        max_pending=str(MAX_PENDING),
        metrics_port=str(port),
        kafka_client=client,
    )
    daemon = Daemon(args, tmp_path / "daemon.log").start()
    reader = TopicReader(bootstrap, topic)
    writer = Writer(log)
    try:
        writer.start()
        assert reader.wait_for(lambda e: len(e) >= 500, 60), daemon.log_text()
        reader.close()
        pid = pair.pid("kafka")
        os.kill(pid, signal.SIGSTOP)
        try:
            frozen_at = time.monotonic()
            while time.monotonic() - frozen_at < FROZEN_SECONDS:
                time.sleep(1)
                assert daemon.proc.poll() is None, daemon.log_text()
                # Reading pauses at the bound, as when the broker is down.
                assert metric(port, "logs2kafka_pending_lines") <= MAX_PENDING
        finally:
            os.kill(pid, signal.SIGCONT)
        time.sleep(3)
        writer.stop.set()
        writer.join(10)
        reader = TopicReader(bootstrap, topic)
        entries = reader.wait_count(writer.count, 120)
        assert http_get(port, "/healthz")[0] == 200
        assert daemon.stop() == 0, daemon.log_text()
    finally:
        writer.stop.set()
        daemon.stop()
        reader.close()
    assert_complete_in_order(entries, {"w": writer.count})
    # Once each: the idempotent producer's retries after the freeze add no copies.
    seqs = [seq_of(e)[1] for e in entries]
    assert len(seqs) == len(set(seqs)) == writer.count
    # The freeze was noticed, and logged as one state change each way.
    text = daemon.log_text()
    assert text.count('"kafka unreachable"') == 1, text[-3000:]
    assert text.count('"kafka reachable again"') == 1, text[-3000:]

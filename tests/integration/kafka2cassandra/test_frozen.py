"""A server frozen under load: SIGSTOP for 20 s, then SIGCONT. From outside this is what a
long GC pause, a stalled VM or a stuck disk looks like: the connections stay open, nothing
answers and nothing is refused, so no error arrives until a timeout. The poller must stay
up, store every record once, and go on by itself when the server answers again.
Runs on a Kafka + Cassandra pair of its own, since it freezes a server."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from itertools import pairwise

import pytest

from logpipe_testkit.ports import free_port
from logpipe_testkit.readiness import readyz
from tests.integration.kafka2cassandra.test_outage import start_poller
from tests.support.k2c import (
    all_logs,
    committed_offsets,
    end_offsets,
    entries,
    keyspace,
    make_topic,
    produce_entries,
    wait_until,
)

pytestmark = pytest.mark.integration

N = 6_000
FROZEN_SECONDS = 20.0


# The consumer's client matters where Kafka is frozen (its requests, heartbeats and
# commits hang); where Cassandra is, the poller's own pause and retry do.
@pytest.mark.parametrize(
    ("server", "kafka_client"),
    [("cassandra", "kafka-python"), ("kafka", "kafka-python"), ("kafka", "confluent")],
)
def test_server_frozen_20s_under_load_stores_every_record_once(
    separate_services, unique_name, tmp_path, server, kafka_client
):
    pair = separate_services
    pair.ctl("up")
    bootstrap, contact = pair.kafka_bootstrap, pair.cassandra_contact_points
    topic, ks, group = unique_name("frozen"), unique_name("frozen"), unique_name("frozen")
    sent = entries(N, sources=3)
    make_topic(bootstrap, topic, partitions=3)
    port = free_port()
    # The test's own producer holds this while it sends, and the freezer while Kafka is
    # frozen: the test's sends are not what is under test.
    sending = threading.Lock()
    stop_trickle = threading.Event()

    def trickle() -> None:  # ~40 s of steady traffic
        for start in range(0, N, 150):
            with sending:
                produce_entries(bootstrap, topic, sent[start : start + 150])
            if stop_trickle.wait(1.0):
                return

    with keyspace(contact, ks) as store:
        log = tmp_path / "poller.log"
        poller = start_poller(bootstrap, contact, topic, ks, group, port, log, kafka_client)
        producer = threading.Thread(target=trickle)
        try:
            assert wait_until(lambda: readyz(port) == 200, 60)
            producer.start()
            assert wait_until(lambda: len(all_logs(store, ks)) >= 600, 60)
            pid = pair.pid(server)
            with sending if server == "kafka" else contextlib.nullcontext():
                os.kill(pid, signal.SIGSTOP)
                try:
                    time.sleep(FROZEN_SECONDS)
                    assert poller.poll() is None, f"the poller died while {server} was frozen"
                finally:
                    os.kill(pid, signal.SIGCONT)
            producer.join(180)
            end = end_offsets(bootstrap, topic)
            assert sum(end.values()) == N
            assert wait_until(lambda: committed_offsets(bootstrap, group, topic) == end, 180)
            assert wait_until(lambda: readyz(port) == 200, 60)
            # Once each: a write that timed out while the node was frozen and was applied
            # when it woke is the same row as its retry (event-mode ids).
            assert sorted(all_logs(store, ks)) == sorted(e.log for e in sent)
        finally:
            stop_trickle.set()
            poller.send_signal(signal.SIGTERM)
            assert poller.wait(30) == 0
            if producer.is_alive():
                producer.join(60)
    if server == "cassandra":
        # The freeze was felt (the writes timed out) and each change of state is logged
        # once, never once per failed write: the messages alternate, from failing to
        # succeeding again. A node still slow as it thaws under load may time out one
        # more write after the first success: a second change, logged as one.
        lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
        said = [x["message"].split(";")[0] for x in lines]
        states = [m for m in said if m.startswith("Cassandra writes")]
        assert states[0] == "Cassandra writes failing", said
        assert states[-1] == "Cassandra writes succeeding again", said
        assert all(a != b for a, b in pairwise(states)), said
        assert len(states) <= 6, said  # against about 190 batches written

"""Commits name only stored records: periodically, on revocation, and at the end."""

from __future__ import annotations

import threading

from logpipe.kafka2cassandra.commits import Commits, names
from logpipe.kafka2cassandra.metrics import PollerMetrics
from logpipe.kafka2cassandra.offsets import OffsetTracker
from tests.unit.kafka2cassandra.fakes import FakeConsumer

TP, OTHER = ("t", 0), ("t", 1)


def commits_with(consumer, stop=None):
    tracker = OffsetTracker()
    commits = Commits(tracker, PollerMetrics(), stop or threading.Event(), 1.0, revoke_wait=0.05)
    commits.attach(consumer)
    commits.on_assigned([TP, OTHER])
    return commits, tracker


def test_periodic_commits_send_only_positions_that_moved():
    consumer = FakeConsumer()
    commits, tracker = commits_with(consumer)
    epoch = tracker.add_many(TP, [0, 1, 2])
    tracker.done(TP, epoch, [0, 1])
    commits.start(100.0)
    commits.tick(100.5)
    assert consumer.commits == []
    commits.tick(101.0)
    assert consumer.commits == [{TP: 2}]
    commits.tick(102.0)
    assert consumer.commits == [{TP: 2}]
    assert commits.metrics.commits._value.get() == 1


def test_revocation_waits_briefly_commits_everything_known_and_lets_go():
    consumer = FakeConsumer(highwater={TP: 10})
    commits, tracker = commits_with(consumer)
    epoch = tracker.add_many(TP, [4, 5])
    tracker.done(TP, epoch, [4])
    commits.update_lag()
    assert commits.metrics.lag.labels("t", "0")._value.get() == 5
    commits.on_revoked([TP])
    assert consumer.commits == [{TP: 5}]
    assert tracker.partitions() == [OTHER]
    lag = commits.metrics.registry.get_sample_value(
        "kafka2cassandra_consumer_lag", {"topic": "t", "partition": "0"}
    )
    assert lag is None


def test_lost_partitions_are_not_committed():
    consumer = FakeConsumer()
    commits, tracker = commits_with(consumer)
    tracker.add_many(OTHER, [0])
    commits.on_lost([OTHER])
    assert consumer.commits == [] and tracker.partitions() == [TP]


def test_the_final_commit_sends_every_position_again():
    consumer = FakeConsumer()
    commits, tracker = commits_with(consumer)
    epoch = tracker.add_many(TP, [0])
    tracker.done(TP, epoch, [0])
    commits.commit()
    commits.final(timeout=1.0)
    assert consumer.commits == [{TP: 1}, {TP: 1}]


def test_names_for_log_lines():
    assert names([TP]) == ["t-0"]
    assert names({TP: 7}.items()) == ["t-0@7"]

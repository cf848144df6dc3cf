"""Commit positions: only up to the last contiguous acknowledged record."""

from __future__ import annotations

import threading

from logpipe.kafka2cassandra.offsets import OffsetTracker

TP = ("www_logs", 0)
OTHER = ("www_logs", 1)


def tracker_with(offsets, tp=TP):
    tracker = OffsetTracker()
    tracker.assign([tp])
    epoch = 0
    for offset in offsets:
        epoch = tracker.add(tp, offset)
    return tracker, epoch


def test_nothing_received_nothing_to_commit():
    tracker = OffsetTracker()
    tracker.assign([TP])
    assert tracker.committable() == {}
    assert tracker.position(TP) is None


def test_commit_stops_at_the_oldest_unacknowledged_record():
    tracker, epoch = tracker_with(range(10, 20))
    tracker.done(TP, epoch, [10, 11, 13, 14])
    assert tracker.committable() == {TP: 12}
    tracker.done(TP, epoch, [12])
    assert tracker.committable() == {TP: 15}


def test_all_done_commits_after_the_last_record():
    tracker, epoch = tracker_with([5, 6, 9])  # gaps (compaction, markers) are fine
    tracker.done(TP, epoch, [9, 6, 5])
    assert tracker.committable() == {TP: 10}
    assert tracker.in_flight() == 0


def test_nothing_done_commits_the_first_offset_received():
    # Committing the first offset itself re-reads it: never skips it.
    tracker, _ = tracker_with([7, 8])
    assert tracker.committable() == {TP: 7}


def test_a_sent_position_is_not_sent_again_until_it_moves_or_fails():
    tracker, epoch = tracker_with([0, 1, 2])
    tracker.done(TP, epoch, [0])
    offsets = tracker.committable()
    tracker.sent(offsets)
    assert tracker.committable() == {}
    tracker.failed(offsets)
    assert tracker.committable() == {TP: 1}
    tracker.sent(offsets)
    tracker.done(TP, epoch, [1])
    assert tracker.committable() == {TP: 2}


def test_partitions_are_independent():
    tracker = OffsetTracker()
    tracker.assign([TP, OTHER])
    e0 = tracker.add(TP, 0)
    e1 = tracker.add(OTHER, 100)
    tracker.add(OTHER, 101)
    tracker.done(OTHER, e1, [101])
    tracker.done(TP, e0, [0])
    assert tracker.committable() == {TP: 1, OTHER: 100}
    assert tracker.committable([TP]) == {TP: 1}


def test_records_of_unassigned_partitions_never_commit():
    tracker = OffsetTracker()
    epoch = tracker.add(TP, 3)
    tracker.done(TP, epoch, [3])
    assert tracker.committable() == {}


def test_acknowledgement_from_before_a_revocation_is_ignored():
    tracker, old_epoch = tracker_with([0, 1, 2])
    tracker.forget([TP])
    tracker.assign([TP])
    new_epoch = tracker.add(TP, 1)
    tracker.done(TP, old_epoch, [0, 1, 2])
    assert new_epoch != old_epoch
    assert tracker.committable() == {TP: 1}


def test_wait_idle_returns_when_the_last_record_is_done():
    tracker, epoch = tracker_with([0, 1])
    timer = threading.Timer(0.05, tracker.done, (TP, epoch, [0, 1]))
    timer.start()
    assert tracker.wait_idle([TP], timeout=5.0)
    assert tracker.committable() == {TP: 2}


def test_wait_idle_times_out_with_work_left():
    tracker, _ = tracker_with([0])
    assert not tracker.wait_idle([TP], timeout=0.05)


def test_concurrent_acknowledgements():
    tracker, epoch = tracker_with(range(20_000))

    def ack(start):
        for offset in range(start, 20_000, 4):
            tracker.done(TP, epoch, [offset])

    threads = [threading.Thread(target=ack, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert tracker.committable() == {TP: 20_000}
    assert tracker.in_flight() == 0


def test_add_many_is_add_in_a_row():
    one, many = OffsetTracker(), OffsetTracker()
    one.assign([TP])
    many.assign([TP])
    for offset in (3, 4, 7):
        e1 = one.add(TP, offset)
    e2 = many.add_many(TP, [3, 4, 7])
    one.done(TP, e1, [3])
    many.done(TP, e2, [3])
    assert one.committable() == many.committable() == {TP: 4}
    many.done(TP, e2, [4, 7])
    assert many.committable() == {TP: 8}
    assert OffsetTracker().add_many(TP, [1]) == 0  # not assigned


def test_every_position_for_a_last_commit():
    tracker, epoch = tracker_with([0, 1])
    tracker.done(TP, epoch, [0, 1])
    tracker.sent(tracker.committable())
    assert tracker.committable() == {}
    assert tracker.committable(unsent_only=False) == {TP: 2}

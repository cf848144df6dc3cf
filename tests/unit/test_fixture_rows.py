"""tests.support.rows.write_all: a timed-out batch is sent again, a refused one fails."""

from __future__ import annotations

import pytest
from cassandra import InvalidRequest, WriteTimeout

from tests.support.rows import write_all


class FlakyWriter:
    """Fails the batches it is told to, once each, with the given error."""

    def __init__(self, fail_once: set[int], error: BaseException) -> None:
        self.fail_once, self.error = fail_once, error
        self.written: list[int] = []

    def submit(self, rows, callback) -> None:
        key = rows[0]
        if key in self.fail_once:
            self.fail_once.discard(key)
            callback(self.error, 0.0)
        else:
            self.written.extend(rows)
            callback(None, 0.0)

    def drain(self, _timeout: float) -> bool:
        return True


def test_a_batch_the_node_timed_out_on_is_sent_again(monkeypatch):
    monkeypatch.setattr("tests.support.rows.time.sleep", lambda _s: None)
    writer = FlakyWriter({3}, WriteTimeout("Coordinator node timed out", write_type=0))
    write_all(writer, [[1, 2], [3, 4], [5]])
    assert sorted(writer.written) == [1, 2, 3, 4, 5]


def test_a_refused_batch_fails_at_once(monkeypatch):
    monkeypatch.setattr("tests.support.rows.time.sleep", lambda _s: None)
    writer = FlakyWriter({3}, InvalidRequest("bad value"))
    with pytest.raises(AssertionError, match="bad value"):
        write_all(writer, [[1, 2], [3, 4]])


def test_a_batch_that_keeps_timing_out_fails_after_the_attempts(monkeypatch):
    monkeypatch.setattr("tests.support.rows.time.sleep", lambda _s: None)

    class AlwaysTimingOut(FlakyWriter):
        def submit(self, rows, callback) -> None:
            callback(self.error, 0.0)

    with pytest.raises(AssertionError, match="1 batches still failing"):
        write_all(AlwaysTimingOut(set(), WriteTimeout("slow", write_type=0)), [[1]], attempts=3)

"""Which offsets are stored, per partition, and how far a commit may go."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from logpipe.kafka import Partition


@dataclass
class _PartitionOffsets:
    epoch: int
    pending: deque[int] = field(default_factory=deque)
    done: set[int] = field(default_factory=set)
    #: Offset after the last record received (None before the first).
    next: int | None = None
    #: Offset last sent in a commit (None: nothing sent yet).
    sent: int | None = None


class OffsetTracker:
    """Which offsets of each partition are stored, and how far a commit may go.

    Records arrive in offset order per partition and complete in any order. The commit
    position of a partition is its oldest record not yet done, or, when all are done,
    the offset after the last record received: committing there never skips a record
    whose row is not acknowledged. Thread-safe: records are added by the poll loop,
    marked done by write and dead-letter callbacks, and read by the rebalance listener.
    Each assignment of a partition gets a new epoch, so an acknowledgement of a record
    read before a revocation cannot touch the bookkeeping of a later assignment.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._parts: dict[Partition, _PartitionOffsets] = {}
        self._epochs = 0

    def assign(self, partitions: Iterable[Partition]) -> None:
        with self._cond:
            for tp in partitions:
                if tp not in self._parts:
                    self._epochs += 1
                    self._parts[tp] = _PartitionOffsets(epoch=self._epochs)

    def forget(self, partitions: Iterable[Partition]) -> None:
        with self._cond:
            for tp in partitions:
                self._parts.pop(tp, None)
            self._cond.notify_all()

    def partitions(self) -> list[Partition]:
        with self._cond:
            return list(self._parts)

    def owns(self, tp: Partition) -> bool:
        with self._cond:
            return tp in self._parts

    def add(self, tp: Partition, offset: int) -> int:
        """Record that ``offset`` was received; returns the epoch to quote in ``done``.

        A record of a partition not assigned (revoked while it was being fetched) gets
        epoch 0: it is still written, but it never moves a commit of this consumer.
        """
        with self._cond:
            state = self._parts.get(tp)
            if state is None:
                return 0
            state.pending.append(offset)
            state.next = offset + 1
            return state.epoch

    def add_many(self, tp: Partition, offsets: Sequence[int]) -> int:
        """``add`` for several offsets of one partition (in order) under one lock."""
        with self._cond:
            state = self._parts.get(tp)
            if state is None or not offsets:
                return 0
            state.pending.extend(offsets)
            state.next = offsets[-1] + 1
            return state.epoch

    def done(self, tp: Partition, epoch: int, offsets: Iterable[int]) -> None:
        """Mark offsets stored (or dead-lettered); ignored for a revoked assignment."""
        with self._cond:
            state = self._parts.get(tp)
            if state is None or state.epoch != epoch:
                return
            state.done.update(offsets)
            pending, finished = state.pending, state.done
            while pending and pending[0] in finished:
                finished.discard(pending.popleft())
            if not pending:
                finished.clear()
                self._cond.notify_all()

    def position(self, tp: Partition) -> int | None:
        """The offset a commit may name for ``tp`` now (the next record to read)."""
        with self._cond:
            state = self._parts.get(tp)
            return None if state is None else self._position(state)

    @staticmethod
    def _position(state: _PartitionOffsets) -> int | None:
        return state.pending[0] if state.pending else state.next

    def committable(
        self, partitions: Iterable[Partition] | None = None, *, unsent_only: bool = True
    ) -> dict[Partition, int]:
        """Positions that moved since they were last sent in a commit (or, with
        ``unsent_only=False``, every known position: a last commit must not count on an
        asynchronous one still in flight, which closing the consumer may cancel)."""
        with self._cond:
            chosen = self._parts if partitions is None else partitions
            out: dict[Partition, int] = {}
            for tp in chosen:
                state = self._parts.get(tp)
                if state is None:
                    continue
                position = self._position(state)
                if position is not None and (position != state.sent or not unsent_only):
                    out[tp] = position
            return out

    def sent(self, offsets: dict[Partition, int]) -> None:
        """A commit of these positions was sent."""
        with self._cond:
            for tp, offset in offsets.items():
                state = self._parts.get(tp)
                if state is not None:
                    state.sent = offset

    def failed(self, offsets: dict[Partition, int]) -> None:
        """A commit of these positions failed: send them again next time."""
        with self._cond:
            for tp, offset in offsets.items():
                state = self._parts.get(tp)
                if state is not None and state.sent == offset:
                    state.sent = None

    def in_flight(self, partitions: Iterable[Partition] | None = None) -> int:
        """Records received and not yet done."""
        with self._cond:
            chosen = self._parts if partitions is None else partitions
            return sum(len(self._parts[tp].pending) for tp in chosen if tp in self._parts)

    def wait_idle(self, partitions: Iterable[Partition], timeout: float) -> bool:
        """Wait until every record of these partitions is done; True if so in time."""
        chosen = list(partitions)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                busy = sum(len(self._parts[tp].pending) for tp in chosen if tp in self._parts)
                remaining = deadline - time.monotonic()
                if not busy:
                    return True
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)

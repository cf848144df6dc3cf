"""Acknowledgements to positions: a file's committed offset moves only over contiguously
acknowledged lines.

Kafka may acknowledge line 7 before line 5; the checkpoint then stays before line 5 until
it too is acknowledged, so a crash can only cause lines to be sent again, never skipped.
"""

from __future__ import annotations

from collections import deque


class AckTracker:
    """The committed offset of one file, moved only over contiguously acknowledged lines.

    ``sent(end_offset)`` is called for every line in the order it was read (so the tracker
    knows the order), ``ack(end_offset)`` when delivery of that line is confirmed, in any
    order.  ``committed`` is the end of the longest acknowledged prefix: the safe resume
    point.  Memory is one integer per line in flight.
    """

    __slots__ = ("_order", "_outstanding", "committed")

    def __init__(self, committed: int = 0) -> None:
        self.committed = committed
        self._order: deque[int] = deque()
        self._outstanding: set[int] = set()

    def sent(self, end_offset: int) -> None:
        """Record a line handed on for delivery; offsets must increase."""
        self._order.append(end_offset)
        self._outstanding.add(end_offset)

    def skip(self, end_offset: int) -> None:
        """Record bytes that need no delivery (for example a discarded fragment)."""
        self._order.append(end_offset)
        self._advance()

    def ack(self, end_offset: int) -> bool:
        """Mark a line delivered; returns True if the committed offset moved."""
        if end_offset not in self._outstanding:
            return False  # unknown or already acknowledged: harmless
        self._outstanding.discard(end_offset)
        if self._order and self._order[0] == end_offset:
            return self._advance()
        return False

    def _advance(self) -> bool:
        moved = False
        order, outstanding = self._order, self._outstanding
        while order and order[0] not in outstanding:
            self.committed = order.popleft()
            moved = True
        return moved

    @property
    def end(self) -> int:
        """Where the lines recorded so far end: reading this file continues from here."""
        return self._order[-1] if self._order else self.committed

    @property
    def pending(self) -> int:
        """Lines sent and not yet acknowledged."""
        return len(self._outstanding)

    @property
    def in_flight(self) -> int:
        """Positions recorded but not yet committed (acknowledged out of order or not)."""
        return len(self._order)

    def __repr__(self) -> str:
        return f"AckTracker(committed={self.committed}, pending={self.pending})"

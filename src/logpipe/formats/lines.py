"""Cutting bytes into lines: the one splitter behind ``tail``, ``ship`` and ``parse``.

Every reader of logs meets the same three questions; they are answered here once:

* A line is the bytes before a ``\\n``, handed out without it (a ``\\r`` before it stays:
  the parser strips it), together with the stream offset just after its newline, which
  is what a checkpoint may record once the line is delivered.
* A line longer than ``max_line_bytes`` keeps its first ``max_line_bytes`` bytes and is
  flagged truncated, with its true end offset (a checkpoint never points into the middle
  of a line).  The rest is dropped as it arrives, so memory stays at about one chunk plus
  one maximal line whatever the input.
* A last line without its newline is held until ``finish()``: a followed file may still
  complete it; a whole file ends with it.

Callers feed chunks as they read them and take lines in batches of parallel iterables
(data, truncated, end offset), so the per-line work is done inside ``bytes.split`` and
``itertools`` rather than a Python loop: this is the tailer's hot path.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from itertools import accumulate, chain, count, repeat
from operator import add
from typing import BinaryIO, NamedTuple

#: ``take(ALL)``: every complete line held.
ALL = sys.maxsize
#: Bytes asked of a stream per read by ``read_lines`` (whole files: ship, parse).
READ_CHUNK_BYTES = 64 * 1024


class Batch(NamedTuple):
    """Lines taken at once, as three parallel iterables (each to be consumed once)."""

    data: list[bytes]
    truncated: Iterable[bool]
    ends: Iterable[int]


_EMPTY = Batch([], (), ())


class LineSplitter:
    """Complete lines out of the bytes fed in, in order, each with its end offset.

    ``feed`` appends bytes read from the stream at ``end``; ``take`` hands out complete
    lines (at most ``room``); ``finish`` hands out the unfinished last line as it is.
    Call ``take`` after each ``feed`` (an over-long line that just ended is handed out by
    the next ``take``).  With ``keep``, the last ``keep`` bytes before ``start`` are kept
    in ``before``: who follows a file can then tell later what preceded its position.
    Not thread-safe.
    """

    __slots__ = (
        "_cut",
        "before",
        "buf",
        "discard",
        "end",
        "keep",
        "max_line_bytes",
        "overflow",
        "skipped",
        "start",
    )

    def __init__(
        self,
        max_line_bytes: int,
        offset: int = 0,
        *,
        keep: int = 0,
        before: bytes = b"",
        discard_first_line: bool = False,
    ) -> None:
        if max_line_bytes < 1:
            raise ValueError("max_line_bytes must be positive")
        self.max_line_bytes = max_line_bytes
        self.keep = keep
        self.skipped: list[int] = []  # end offsets of dropped fragments (see discard)
        self.reset(offset, before, discard_first_line)

    def reset(self, offset: int = 0, before: bytes = b"", discard_first_line: bool = False) -> None:
        """Start again at ``offset`` of the stream, holding nothing."""
        self.buf = b""  # fed but not yet handed out, starting at ``start``
        self.start = offset
        self.end = offset  # just after the last byte fed
        self.overflow = False  # the current line is too long: buf is its head, rest dropped
        self.discard = discard_first_line  # the current line began before us: drop it whole
        self.before = _last(before, self.keep)
        self._cut: tuple[bytes, int] | None = None  # an over-long line's head and end

    @property
    def has_lines(self) -> bool:
        """A complete line is held: ``take`` has something to hand out."""
        return self._cut is not None or b"\n" in self.buf

    @property
    def has_partial(self) -> bool:
        """Bytes of an unfinished line are held (or being dropped)."""
        return bool(self.buf) or self.overflow or self.discard

    def feed(self, chunk: bytes) -> None:
        """Add the next bytes of the stream (those at ``end``)."""
        start = self.end
        self.end = start + len(chunk)
        if self.overflow or self.discard:
            nl = chunk.find(b"\n")
            if nl < 0:
                return  # still inside the long or foreign line: drop the chunk
            end = start + nl + 1
            if self.discard:
                self.skipped.append(end)
                self.discard = False
            else:
                self._cut = (self.buf, end)
                self.overflow = False
            self.before = chunk[max(0, nl + 1 - self.keep) : nl + 1] if self.keep else b""
            self.buf = chunk[nl + 1 :]
            self.start = end
        elif self.buf:
            self.buf += chunk
        else:
            self.buf = chunk
            self.start = start

    def take(self, room: int = ALL) -> Batch:
        """At most ``room`` complete lines, oldest first."""
        if self._cut is not None:
            return self._take_after_cut(room)
        buf = self.buf
        if room <= 0 or not buf:
            return _EMPTY
        pieces = buf.split(b"\n", room)
        rest = pieces.pop()  # the unfinished line, or what the budget left unsplit
        limit = self.max_line_bytes
        consumed = len(buf) - len(rest)
        if len(pieces) < room and len(rest) > limit:
            # Only the unfinished line is left: keep it bounded.
            rest = rest[:limit]
            self.overflow = True
        self.buf = rest
        if not pieces:
            return _EMPTY
        start = self.start
        ends = map(add, accumulate(map(len, pieces)), count(start + 1))
        truncated: Iterable[bool]
        if len(buf) > limit and max(map(len, pieces)) > limit:
            truncated = [len(p) > limit for p in pieces]
            pieces = [p[:limit] for p in pieces]
        else:
            truncated = repeat(False, len(pieces))
        self.start = start + consumed
        keep = self.keep
        if consumed >= keep:
            self.before = buf[consumed - keep : consumed]
        else:
            self.before = (self.before + buf[:consumed])[-keep:]
        return Batch(pieces, truncated, ends)

    def _take_after_cut(self, room: int) -> Batch:
        if room <= 0 or self._cut is None:
            return _EMPTY
        head, end = self._cut
        self._cut = None
        more = self.take(room - 1)
        return Batch([head, *more.data], [True, *more.truncated], [end, *more.ends])

    def finish(self) -> Batch:
        """Every line held, the unfinished last one as it is (nothing will complete it)."""
        lines = self.take() if self.has_lines else _EMPTY
        data, truncated, ends = list(lines.data), list(lines.truncated), list(lines.ends)
        if self.discard:
            self.skipped.append(self.end)
            self.discard = False
            self.before = b""
        elif self.buf or self.overflow:
            buf, limit = self.buf, self.max_line_bytes
            data.append(buf[:limit])
            truncated.append(self.overflow or len(buf) > limit)
            ends.append(self.end)
            self.before = b"" if self.overflow else _last(self.before + buf, self.keep)
            self.overflow = False
        self.buf = b""
        self.start = self.end
        return Batch(data, truncated, ends)


def _last(data: bytes, n: int) -> bytes:
    return data[-n:] if n > 0 else b""


def read_lines(
    stream: BinaryIO, max_line_bytes: int, chunk_bytes: int = READ_CHUNK_BYTES
) -> Iterator[tuple[bytes, bool]]:
    """Each line of a whole stream without its newline, and whether it was cut.

    The last line counts even without a newline (the stream is complete).  Reads with
    ``read1`` where the stream has it, so a pipe's lines come as they are written.
    """
    return chain.from_iterable(_batches(stream, max_line_bytes, chunk_bytes))


def _batches(
    stream: BinaryIO, max_line_bytes: int, chunk_bytes: int
) -> Iterator[Iterator[tuple[bytes, bool]]]:
    """One (line, truncated) iterator per read: no Python code runs per line."""
    read = getattr(stream, "read1", None) or stream.read
    lines = LineSplitter(max_line_bytes)
    while True:
        chunk = read(chunk_bytes)
        if not chunk:
            batch = lines.finish()
            yield zip(batch.data, batch.truncated, strict=True)
            return
        lines.feed(chunk)
        batch = lines.take()
        yield zip(batch.data, batch.truncated, strict=True)

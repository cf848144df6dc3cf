"""The ``id`` of each line read: a function of its file's content and its place in it.

The envelope's ``id`` (see ``logpipe.envelope``) is ``<head>:<start>``: ``start`` is the
byte offset at which the line begins, ``head`` the digest of the file's first
``min(ID_HEAD_BYTES, end of the line)`` bytes. Whoever reads the same bytes computes the
same ids: the tailer after a restart (from a checkpoint, mid-file), the tailer reading
the copy of a copytruncate, ``ship`` reading the rotated file plain or decompressed. The
inode is left out on purpose: a copy or a ``.gz`` has another one, and the same lines.

Why the head stops at the line's own end: a log file starts empty, so its first KiB
grows line by line; a digest of "the first KiB as it is now" would name an early line
differently before and after the file reached 1 KiB. The bytes up to a line's end never
change while the file only grows, so that digest is stable, and from the first KiB on
every line shares the digest of the first KiB.

``LineIds`` sits beside a ``LineSplitter``: bytes go in through ``feed`` (which notes the
file's first bytes and where an over-long line began) and lines come out of ``take`` and
``finish`` with their ids, computed per batch (the per-line work is a ``map`` of a
``str.format``, no Python loop except for the lines inside the first KiB).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from itertools import chain, repeat
from typing import BinaryIO, NamedTuple

from logpipe.envelope import LINE_ID_TEMPLATE
from logpipe.formats.lines import ALL, READ_CHUNK_BYTES, Batch, LineSplitter

#: The file prefix an id's digest covers (the tailer's fingerprint length: 1 KiB).
ID_HEAD_BYTES = 1024

_format = LINE_ID_TEMPLATE.format


def head_digest(data: bytes) -> str:
    """The hex digest of a file prefix, as ids carry it."""
    return hashlib.blake2b(data, digest_size=8).hexdigest()


class IdBatch(NamedTuple):
    """Lines taken at once: a splitter's ``Batch`` plus each line's ``id``."""

    data: list[bytes]
    truncated: Iterable[bool]
    ends: list[int]
    ids: list[str]


class LineIds:
    """The ids of one file's lines, next to the ``LineSplitter`` that cuts them.

    ``fd`` (optional) is the open file, asked for its first bytes when reading did not
    start at offset 0; a stream read from its start needs none. Not thread-safe.
    """

    __slots__ = ("_cut_start", "_full", "fd", "head")

    def __init__(self, fd: int = -1) -> None:
        self.fd = fd
        self.reset()

    def reset(self) -> None:
        """Forget the file's content (it was replaced, or another file is read now)."""
        self.head = b""  # the first bytes of the file as read, up to ID_HEAD_BYTES
        self._full: str | None = None  # digest of the first ID_HEAD_BYTES
        self._cut_start: int | None = None  # start of an over-long line not handed out

    def feed(self, lines: LineSplitter, chunk: bytes) -> None:
        """``lines.feed(chunk)``, noting the file's first bytes and over-long lines."""
        start = lines.end
        if start < ID_HEAD_BYTES:
            head = self.head
            if len(head) < start and self.fd >= 0:
                head = os.pread(self.fd, start, 0)  # reading began past offset 0
            if len(head) >= start:
                self.head = (head[:start] + chunk)[:ID_HEAD_BYTES]
        overflow, line_start = lines.overflow, lines.start
        lines.feed(chunk)
        if overflow and not lines.overflow:
            # The over-long line ended in this chunk: the splitter has moved past its
            # start, which its id needs when it is taken.
            self._cut_start = line_start

    def take(self, lines: LineSplitter, room: int = ALL) -> IdBatch:
        """``lines.take(room)`` with the id of each line."""
        first = self._first_start(lines)
        return self._with_ids(first, lines.take(room))

    def finish(self, lines: LineSplitter) -> IdBatch:
        """``lines.finish()`` with the id of each line."""
        first = self._first_start(lines)
        return self._with_ids(first, lines.finish())

    def _first_start(self, lines: LineSplitter) -> int:
        return self._cut_start if self._cut_start is not None else lines.start

    def _with_ids(self, first: int, batch: Batch) -> IdBatch:
        ends = list(batch.ends)
        if not ends:
            return IdBatch(batch.data, batch.truncated, ends, [])
        self._cut_start = None
        starts = chain((first,), ends[:-1])  # lines are contiguous: each starts at the last end
        if ends[0] >= ID_HEAD_BYTES:
            heads: Iterable[str] = repeat(self._full_digest())
        else:
            heads = [self._digest_to(end) for end in ends]
        return IdBatch(batch.data, batch.truncated, ends, list(map(_format, heads, starts)))

    def _digest_to(self, end: int) -> str:
        if end >= ID_HEAD_BYTES:
            return self._full_digest()
        head = self.head
        if len(head) < end and self.fd >= 0:
            head = self.head = os.pread(self.fd, ID_HEAD_BYTES, 0)
        return head_digest(head[:end])

    def _full_digest(self) -> str:
        if self._full is None:
            head = self.head
            if len(head) < ID_HEAD_BYTES and self.fd >= 0:
                # Reading started past the first KiB (a checkpoint, a copy resumed at an
                # offset): the file's first bytes are read once.
                head = self.head = os.pread(self.fd, ID_HEAD_BYTES, 0)
            self._full = head_digest(head[:ID_HEAD_BYTES])
        return self._full


def read_lines_with_ids(
    stream: BinaryIO, max_line_bytes: int, chunk_bytes: int = READ_CHUNK_BYTES
) -> Iterator[tuple[bytes, bool, str]]:
    """Each line of a whole stream (as ``logpipe.formats.lines.read_lines``), whether it
    was cut, and its ``id``: the ids the tailer gives the same file's lines."""
    return chain.from_iterable(_batches(stream, max_line_bytes, chunk_bytes))


def _batches(
    stream: BinaryIO, max_line_bytes: int, chunk_bytes: int
) -> Iterator[Iterator[tuple[bytes, bool, str]]]:
    read = getattr(stream, "read1", None) or stream.read
    lines = LineSplitter(max_line_bytes)
    ids = LineIds()
    while True:
        chunk = read(chunk_bytes)
        if not chunk:
            batch = ids.finish(lines)
            yield zip(batch.data, batch.truncated, batch.ids, strict=True)
            return
        ids.feed(lines, chunk)
        batch = ids.take(lines)
        yield zip(batch.data, batch.truncated, batch.ids, strict=True)

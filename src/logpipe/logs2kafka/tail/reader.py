"""Reading one open file: complete lines, bounded memory, truncation and partial lines.

The reader owns a file descriptor and a ``LineSplitter`` (``logpipe.formats.lines``, the
splitter ``ship`` and ``parse`` use too).  It hands out only complete lines (ending in
``\\n``) together with the byte offset just after each newline, which is what a
checkpoint may later record.  It reads in fixed chunks and stops as soon as the caller's
line budget is reached, so memory stays at about one chunk plus one maximal line, however
far behind the reader is.

A line longer than ``max_line_bytes`` keeps only its first ``max_line_bytes`` bytes; the
rest is read and dropped until its newline arrives, and the line is then handed out
flagged ``truncated`` with its true end offset (so a checkpoint never points into the
middle of a line).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from itertools import repeat

from logpipe.formats.lines import LineSplitter
from logpipe.logs2kafka.line_ids import IdBatch, LineIds
from logpipe.logs2kafka.tail.identity import (
    FINGERPRINT_BYTES,
    TAIL_BYTES,
    Fingerprint,
    bytes_before,
)


@dataclass(slots=True)
class Line:
    """One line read from a followed file.

    ``data`` is the line without its ``\\n`` (a ``\\r`` before it is kept: the parser
    strips it); ``end_offset`` is the byte offset just after the newline, the position to
    acknowledge once the line is delivered; ``line_id`` names the line by its file's
    content and its start offset (the envelope's ``id``, see ``logs2kafka.line_ids``).
    """

    data: bytes
    truncated: bool
    file_id: str
    path: str
    end_offset: int
    line_id: str | None = None


class FileReader:
    """One open file followed from an offset.  Not thread-safe; the ``Tailer`` drives it."""

    def __init__(
        self,
        path: str,
        fd: int,
        st: os.stat_result,
        file_id: str,
        offset: int,
        fingerprint: Fingerprint,
        *,
        max_line_bytes: int,
        chunk_bytes: int,
        now: float,
        discard_first_line: bool = False,
        fingerprint_bytes: int = FINGERPRINT_BYTES,
    ) -> None:
        self.path = path
        self.fd = fd
        self.dev = st.st_dev
        self.ino = st.st_ino
        self.size = st.st_size
        self.file_id = file_id
        self.fp = fingerprint
        self.fingerprint_bytes = fingerprint_bytes
        self.max_line_bytes = max_line_bytes
        self.chunk_bytes = chunk_bytes
        # Keeps the bytes before its position, for recognising a copy (see copytruncate).
        self.lines = LineSplitter(
            max_line_bytes,
            offset,
            keep=TAIL_BYTES,
            before=bytes_before(fd, offset),
            discard_first_line=discard_first_line,
        )
        self.ids = LineIds(fd)
        self.current = True  # still found under one of the followed paths
        self.copy_of: str | None = None  # held unread: maybe the copy of this file_id
        #: The path of the truncated file whose lines this copy continues (copytruncate).
        self.copy_for: str | None = None
        self.copy_until = 0.0  # ... until then (monotonic)
        self.rotated_at: float | None = None
        self.last_data = now  # when bytes last arrived (monotonic)
        self._checked_size = -1  # size at the last fingerprint check
        self._dry_size = -1  # a size at which reading found nothing more
        self.at_eof = False
        self.error: str | None = None  # the last read error, logged once

    # -- state the follower asks about ------------------------------------------------------

    @property
    def key(self) -> tuple[int, int]:
        return (self.dev, self.ino)

    @property
    def read_pos(self) -> int:
        """The next byte to read from the file."""
        return self.lines.end

    @property
    def buf_pos(self) -> int:
        """Where the bytes read but not handed out yet start: lines before it are out."""
        return self.lines.start

    @property
    def buffered(self) -> int:
        """Bytes read and held in memory, not handed out yet."""
        return len(self.lines.buf)

    @property
    def tail(self) -> bytes:
        """The (up to ``TAIL_BYTES``) bytes before ``buf_pos``, as far as they are known."""
        return self.lines.before

    @property
    def skipped(self) -> list[int]:
        """End offsets of dropped fragments not reported yet, for the ack tracker."""
        return self.lines.skipped

    @property
    def has_partial(self) -> bool:
        """Bytes of an unfinished line are held (or being dropped)."""
        return self.lines.has_partial

    @property
    def has_backlog(self) -> bool:
        """Something can be read or handed out right now."""
        lines = self.lines
        return (lines.end < self.size and self.size != self._dry_size) or lines.has_lines

    def refresh_size(self) -> os.stat_result:
        st = os.fstat(self.fd)
        self.size = st.st_size
        return st

    def content_replaced(self) -> bool:
        """Was the file truncated or rewritten under us (copytruncate, ``> file``)?

        Shrinking below what we read is truncation; a changed first-bytes fingerprint
        catches a file that was truncated and already grew past our offset again.
        """
        if self.size < self.read_pos:
            return True
        if self.size == self._checked_size:
            return False  # unchanged since the last look: an idle file costs one fstat
        fp = self.fp.refreshed(self.fd, self.size, self.fingerprint_bytes)
        if fp is None:
            return True
        self.fp = fp
        self._checked_size = self.size
        return False

    # -- reading -----------------------------------------------------------------------------

    def read(self, out: list[Line], limit: int, now: float) -> None:
        """Append complete lines to ``out`` until it holds ``limit`` lines or input runs dry."""
        self.at_eof = False
        if not self.has_backlog:
            self.at_eof = True  # nothing new since the last fstat: spare the read
            return
        lines, fd, chunk_bytes = self.lines, self.fd, self.chunk_bytes
        while True:
            room = limit - len(out)
            if room > 0:
                self._hand_out(self.ids.take(lines, room), out)
            if len(out) >= limit:
                return
            start = lines.end
            chunk = os.pread(fd, chunk_bytes, start)
            if not chunk:
                self.at_eof = True
                if start < self.size:
                    # fstat promised more than a read gives (a network filesystem's stale
                    # size): do not call that backlog again until the size changes.
                    self._dry_size = self.size
                return
            self.ids.feed(lines, chunk)
            self.last_data = now
            if lines.end > self.size:
                self.size = lines.end

    def _hand_out(self, batch: IdBatch, out: list[Line]) -> None:
        if batch.data:
            file_id, path = repeat(self.file_id), repeat(self.path)
            out.extend(map(Line, batch.data, batch.truncated, file_id, path, batch.ends, batch.ids))

    def flush_partial(self, out: list[Line]) -> None:
        """Hand out the unfinished last line as it is (the file will not complete it)."""
        self._hand_out(self.ids.finish(self.lines), out)

    def restart(self, file_id: str, fingerprint: Fingerprint) -> None:
        """Follow the file again from offset 0 under a new identity (its content changed)."""
        self.file_id = file_id
        self.fp = fingerprint
        self.lines.reset(0)
        self.ids.reset()
        self.at_eof = False
        self._checked_size = -1
        self._dry_size = -1

    def resume_as(self, file_id: str, offset: int) -> None:
        """Continue another file's lines: this file is a copy of it, read from ``offset``."""
        self.restart(file_id, self.fp)
        self.copy_of = None
        self.lines.reset(offset, bytes_before(self.fd, offset))
        self.ids.reset()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
            self.ids.fd = -1


@dataclass(frozen=True, slots=True)
class ReaderOptions:
    """How every file of one tailer is read (one place, so all readers agree)."""

    max_line_bytes: int
    chunk_bytes: int
    fingerprint_bytes: int = FINGERPRINT_BYTES

    def open(
        self,
        path: str,
        fd: int,
        st: os.stat_result,
        file_id: str,
        offset: int,
        fingerprint: Fingerprint,
        now: float,
        discard_first_line: bool = False,
    ) -> FileReader:
        """A reader of the open file ``fd`` from ``offset`` (it takes over the descriptor)."""
        return FileReader(
            path,
            fd,
            st,
            file_id,
            offset,
            fingerprint,
            max_line_bytes=self.max_line_bytes,
            chunk_bytes=self.chunk_bytes,
            fingerprint_bytes=self.fingerprint_bytes,
            now=now,
            discard_first_line=discard_first_line,
        )

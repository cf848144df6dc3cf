"""Reading one open file: complete lines, bounded memory, truncation and partial lines.

The reader owns a file descriptor and a small buffer.  It hands out only complete lines
(ending in ``\\n``) together with the byte offset just after each newline, which is what a
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

from logpipe.logs2kafka.tail.copies import TAIL_BYTES, bytes_before
from logpipe.logs2kafka.tail.identity import FINGERPRINT_BYTES, Fingerprint


@dataclass(slots=True)
class Line:
    """One line read from a followed file.

    ``data`` is the line without its ``\\n`` (a ``\\r`` before it is kept: the parser
    strips it); ``end_offset`` is the byte offset just after the newline, the position to
    acknowledge once the line is delivered.
    """

    data: bytes
    truncated: bool
    file_id: str
    path: str
    end_offset: int


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
        self.read_pos = offset  # next byte to read from the file
        self.buf = b""  # bytes read but not yet handed out, starting at buf_pos
        self.buf_pos = offset
        self.overflow = False  # current line is too long: buf holds its head, rest dropped
        self.discard = discard_first_line  # current line started before us: drop it whole
        self.skipped: list[int] = []  # end offsets of dropped fragments, for the tracker
        self.current = True  # still found under one of the followed paths
        self.copy_of: str | None = None  # held unread: maybe the copy of this file_id
        self.copy_until = 0.0  # ... until then (monotonic)
        self.tail = bytes_before(fd, offset)  # the bytes before buf_pos (see copies.py)
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
    def has_partial(self) -> bool:
        """Bytes of an unfinished line are held (or being dropped)."""
        return bool(self.buf) or self.overflow or self.discard

    @property
    def has_backlog(self) -> bool:
        """Something can be read or handed out right now."""
        return (self.read_pos < self.size and self.size != self._dry_size) or b"\n" in self.buf

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
        max_bytes = self.max_line_bytes
        chunk_bytes = self.chunk_bytes
        self.at_eof = False
        if not self.has_backlog:
            self.at_eof = True  # nothing new since the last fstat: spare the read
            return
        while True:
            if self.buf:
                self._split(out, limit)
            if len(out) >= limit:
                return
            # buf now holds at most one unfinished line: keep it bounded.
            if len(self.buf) > max_bytes and not self.overflow:
                self.buf = self.buf[:max_bytes]
                self.overflow = True
            chunk = os.pread(self.fd, chunk_bytes, self.read_pos)
            if not chunk:
                self.at_eof = True
                if self.read_pos < self.size:
                    # fstat promised more than a read gives (a network filesystem's stale
                    # size): do not call that backlog again until the size changes.
                    self._dry_size = self.size
                return
            chunk_start = self.read_pos
            self.read_pos += len(chunk)
            self.last_data = now
            if self.read_pos > self.size:
                self.size = self.read_pos
            if self.overflow or self.discard:
                nl = chunk.find(b"\n")
                if nl < 0:
                    continue  # still inside the long or foreign line: drop the chunk
                end = chunk_start + nl + 1
                if self.discard:
                    self.skipped.append(end)
                    self.discard = False
                else:
                    out.append(Line(self.buf, True, self.file_id, self.path, end))
                    self.overflow = False
                self.tail = chunk[max(0, nl + 1 - TAIL_BYTES) : nl + 1]
                self.buf = chunk[nl + 1 :]
                self.buf_pos = end
            elif self.buf:
                self.buf += chunk
            else:
                self.buf = chunk
                self.buf_pos = chunk_start

    def _split(self, out: list[Line], limit: int) -> None:
        room = limit - len(out)
        if room <= 0:
            return
        pieces = self.buf.split(b"\n", room)
        rest = pieces.pop()  # the unfinished line, or what the budget left unsplit
        if not pieces:
            return
        max_bytes = self.max_line_bytes
        file_id, path = self.file_id, self.path
        off = self.buf_pos
        append = out.append
        for piece in pieces:
            off += len(piece) + 1
            if len(piece) > max_bytes:
                append(Line(piece[:max_bytes], True, file_id, path, off))
            else:
                append(Line(piece, False, file_id, path, off))
        consumed = off - self.buf_pos
        if consumed >= TAIL_BYTES:
            self.tail = self.buf[consumed - TAIL_BYTES : consumed]
        else:
            self.tail = (self.tail + self.buf[:consumed])[-TAIL_BYTES:]
        self.buf = rest
        self.buf_pos = off

    def flush_partial(self, out: list[Line]) -> None:
        """Hand out the unfinished last line as it is (the file will not complete it)."""
        if self.discard:
            self.skipped.append(self.read_pos)
            self.discard = False
            self.tail = b""
        elif self.buf or self.overflow:
            data = self.buf[: self.max_line_bytes]
            self.tail = b"" if self.overflow else (self.tail + self.buf)[-TAIL_BYTES:]
            truncated = self.overflow or len(self.buf) > self.max_line_bytes
            out.append(Line(data, truncated, self.file_id, self.path, self.read_pos))
            self.overflow = False
        self.buf = b""
        self.buf_pos = self.read_pos

    def restart(self, file_id: str, fingerprint: Fingerprint) -> None:
        """Follow the file again from offset 0 under a new identity (its content changed)."""
        self.file_id = file_id
        self.fp = fingerprint
        self.read_pos = 0
        self.buf = b""
        self.buf_pos = 0
        self.overflow = False
        self.discard = False
        self.at_eof = False
        self.tail = b""
        self._checked_size = -1
        self._dry_size = -1

    def resume_as(self, file_id: str, offset: int) -> None:
        """Continue another file's lines: this file is a copy of it, read from ``offset``."""
        self.restart(file_id, self.fp)
        self.copy_of = None
        self.read_pos = self.buf_pos = offset
        self.tail = bytes_before(self.fd, offset)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

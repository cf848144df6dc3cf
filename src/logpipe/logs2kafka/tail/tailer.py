"""``Tailer``: follow log files like ``tail -F``, across rotation and restarts, with durable
positions.

The facade over the parts, each in its own module:

* ``discovery``: which files to follow and where each starts (checkpoints, rotations seen
  at start, forgetting stale entries);
* ``harvest``: reading the open files in turn and finishing the rotated ones;
* ``copytruncate``: a truncated file's undelivered lines continued in its copy;
* ``positions``: ack trackers and the ``PositionStore`` they are written to;
* ``siblings``: a file's lines found again next to its path (a copy, a compressed
  generation);
* ``reader`` (one file), ``identity`` (which file is which), ``paths`` (globs), ``files``
  (the open files).

Every line handed out by ``poll`` must be acknowledged with ``ack`` (from any thread) for
the checkpoint to move past it; ``flush_checkpoints`` (also called by ``poll`` every
``flush_interval``) writes the positions.  While no lines may be taken, ``maintain`` keeps
following (rescans, rotations, truncations, checkpoints) without reading.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from logpipe.config.settings import FROM_BEGINNING, MAX_LINE_BYTES, PARTIAL_LINE_TIMEOUT
from logpipe.envelope import line_id_offset
from logpipe.logs2kafka.checkpoint import PositionStore
from logpipe.logs2kafka.tail.copytruncate import CopyTruncate
from logpipe.logs2kafka.tail.discovery import Discovery
from logpipe.logs2kafka.tail.files import OpenFiles
from logpipe.logs2kafka.tail.generations import Unseen
from logpipe.logs2kafka.tail.harvest import Harvester
from logpipe.logs2kafka.tail.identity import FINGERPRINT_BYTES
from logpipe.logs2kafka.tail.positions import Positions
from logpipe.logs2kafka.tail.reader import Line, ReaderOptions
from logpipe.observability import StateLog, get_logger

log = get_logger("tail")

# Timings and sizes without a setting of their own: not an operator's choice (tests
# shorten them through the constructor).
RESCAN_INTERVAL = 1.0  # seconds between two looks at the paths
FLUSH_INTERVAL = 1.0  # seconds between two checkpoint writes, when positions moved
CLOSE_ROTATED_AFTER = 30.0  # seconds of silence before a rotated file is closed
FORGET_AFTER = 24 * 3600.0  # seconds before the entry of a file not followed is dropped
WAIT_INTERVAL = 0.1  # seconds between two looks at the file sizes in wait()
COPY_WAIT = 10.0  # seconds a file starting like a followed one is held as a possible copy
CHUNK_BYTES = 64 * 1024  # bytes read from a file at a time
POLL_LINES = 1000  # lines handed out by one poll() unless told otherwise


@dataclass(slots=True)
class FileStatus:
    """What an operator wants to know about one followed file (metrics, health)."""

    path: str
    file_id: str
    size: int
    read_offset: int
    committed_offset: int
    pending_lines: int
    current: bool
    buffered_bytes: int = 0  # read and held in memory, not handed out yet

    @property
    def bytes_behind(self) -> int:
        """Bytes in the file not yet delivered (acknowledged)."""
        return max(0, self.size - self.committed_offset)

    @property
    def bytes_unread(self) -> int:
        """Bytes in the file not handed out yet (lost if the file vanished now)."""
        return max(0, self.size - self.read_offset) + self.buffered_bytes


class Tailer:
    """Follows files matching ``patterns`` and hands out their lines in order per file."""

    def __init__(
        self,
        patterns: Sequence[str],
        store: PositionStore,
        from_beginning: bool = FROM_BEGINNING.default,
        max_line_bytes: int = MAX_LINE_BYTES.default,
        partial_line_timeout: float = PARTIAL_LINE_TIMEOUT.default,
        *,
        rescan_interval: float = RESCAN_INTERVAL,
        flush_interval: float = FLUSH_INTERVAL,
        close_rotated_after: float = CLOSE_ROTATED_AFTER,
        forget_after: float = FORGET_AFTER,
        wait_interval: float = WAIT_INTERVAL,
        copy_wait: float = COPY_WAIT,
        chunk_bytes: int = CHUNK_BYTES,
        fingerprint_bytes: int = FINGERPRINT_BYTES,
    ) -> None:
        if isinstance(patterns, str):
            patterns = [patterns]
        if max_line_bytes < 1 or chunk_bytes < 1:
            raise ValueError("max_line_bytes and chunk_bytes must be positive")
        store.ensure_writable()
        self.store = store
        self.flush_interval = flush_interval
        self.wait_interval = wait_interval

        options = ReaderOptions(max_line_bytes, chunk_bytes, fingerprint_bytes)
        self._files = OpenFiles()
        self._positions = Positions(store, self._files)
        # Called once per line by the Kafka client's thread: straight to the positions,
        # without a call in between (same signature and meaning as ``Tailer.ack``).
        self.ack = self._positions.ack  # type: ignore[method-assign]
        unseen = Unseen(self._files, self._positions, options)
        copies = CopyTruncate(self._files, self._positions, options, unseen, copy_wait)
        self._discovery = Discovery(
            patterns,
            self._files,
            self._positions,
            copies,
            unseen,
            options,
            from_beginning=from_beginning,
            rescan_interval=rescan_interval,
            forget_after=forget_after,
        )
        self._harvester = Harvester(
            self._files,
            self._positions,
            copies,
            partial_line_timeout=partial_line_timeout,
            close_rotated_after=close_rotated_after,
        )
        self._wake = threading.Event()
        self._flush_state = StateLog(log, initial="ok")
        self._closed = False

        now = time.monotonic()
        self._next_flush = now + flush_interval
        self._discovery.scan(now, startup=True)
        self.flush_checkpoints()

    def poll(self, max_lines: int = POLL_LINES) -> list[Line]:
        """Complete lines ready now (at most ``max_lines``), oldest file first; never blocks.

        Lines are handed out once: each is recorded as sent and must be acknowledged with
        ``ack(line.file_id, line.end_offset)`` for the checkpoint to move past it.
        """
        if self._closed:
            return []
        now = time.monotonic()
        self._look(now)
        out: list[Line] = []
        self._harvester.collect(out, max_lines, now)
        if now >= self._next_flush:
            self._periodic_flush()
        return out

    def lines_before(self, line: Line, max_bytes: int) -> list[tuple[bytes, int]]:
        """The complete lines that start at most ``max_bytes`` before ``line`` in its file,
        newest first, each with its start offset; empty when the file is no longer open.

        For the time of a line that did not parse (``logs2kafka.line_times``): read from
        the open file, so only the lines before one being handed out, in a file still
        followed, are ever asked for.
        """
        if line.line_id is None:
            return []
        reader = self._files.original(line.file_id)
        if reader is None:
            return []
        start = line_id_offset(line.line_id)
        # One byte more than the window: a line starting right at its edge is whole when
        # that byte is a newline.
        first = max(0, start - max_bytes - 1)
        try:
            data = os.pread(reader.fd, start - first, first)
        except OSError:
            return []
        if len(data) != start - first or (data and data[-1:] != b"\n"):
            return []  # the file changed under us: nothing to trust
        pieces = data[:-1].split(b"\n") if data else []
        out: list[tuple[bytes, int]] = []
        end = start
        for index in range(len(pieces) - 1, -1, -1):
            piece = pieces[index]
            begin = end - len(piece) - 1
            if index == 0 and first > 0:
                break  # began before the window: not known to be a whole line
            out.append((piece, begin))
            end = begin
        return out

    def maintain(self) -> None:
        """All ``poll`` does but reading lines: for when none may be taken (the pending
        bound is full, Kafka is down).  Cheap unless something is due; call it often.

        Files created meanwhile are opened (from their start) and rotated ones held open,
        truncations are noticed while their copy is still there, and the checkpoints are
        written: so what is written during an outage is still read when it ends,
        whatever logrotate did meanwhile.
        """
        if self._closed:
            return
        now = time.monotonic()
        self._look(now)
        if now >= self._next_flush:
            self._periodic_flush()

    def _look(self, now: float) -> None:
        """The paths rescanned and the open files checked for truncation, when due."""
        if now >= self._discovery.next_scan:
            self._discovery.scan(now)
            self._harvester.check()

    @property
    def lost_bytes(self) -> int:
        """Bytes of followed files that went away before they were read (a counter)."""
        return self._positions.lost_bytes

    def ack(self, file_id: str, end_offset: int) -> bool:
        """Delivery of the line ending at ``end_offset`` is confirmed (thread-safe).

        Returns True if the file's committed offset moved.  Unknown or repeated acks are
        ignored.
        """
        return self._positions.ack(file_id, end_offset)

    def flush_checkpoints(self) -> bool:
        """Write the committed positions now if they changed; returns whether it wrote.

        The positions are gathered under the lock ``ack`` takes; the store is written and
        fsynced outside it, so acknowledgements (the Kafka client's thread) never wait
        for the disk.
        """
        self._next_flush = time.monotonic() + self.flush_interval
        return self._positions.flush()

    def _periodic_flush(self) -> None:
        """Flush from ``poll``: a failing disk is logged once and retried, never raised,
        since the positions stay in memory and the next flush writes them all."""
        try:
            self.flush_checkpoints()
        except OSError as exc:
            self._next_flush = time.monotonic() + self.flush_interval
            self._flush_state.set(
                "failing",
                f"cannot write checkpoints in {self.store.location}: {exc}; retrying",
                logging.ERROR,
            )
        else:
            self._flush_state.set("ok", "checkpoints are written again")

    def wait(self, timeout: float) -> bool:
        """Sleep until ``poll`` may have work (new bytes, a rescan due) or ``timeout``.

        Checks file sizes every ``wait_interval`` seconds with ``fstat`` (no busy loop).
        Returns True if work may be ready, False on timeout; ``wakeup()`` ends it early.
        """
        if self._closed:
            return False
        deadline = time.monotonic() + timeout
        while True:
            if self._closed or self._work_ready():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if self._wake.wait(min(self.wait_interval, remaining)):
                self._wake.clear()
                return True

    def _work_ready(self) -> bool:
        now = time.monotonic()
        return now >= self._discovery.next_scan or self._harvester.work_ready(now)

    @property
    def checkpoint_writes(self) -> int:
        """Checkpoint writes that reached the disk so far (they happen when positions moved)."""
        return self._positions.writes

    @property
    def followed(self) -> int:
        """Files followed under the paths now (open and not rotated away), as of the last
        rescan: 0 while every path matches nothing. Read from any thread."""
        return self._discovery.followed

    def wakeup(self) -> None:
        """End a ``wait`` in another thread now (for example on shutdown)."""
        self._wake.set()

    def files(self) -> list[FileStatus]:
        """Status of every open file, for metrics (bytes behind) and logs."""
        with self._positions.lock:
            result = []
            for r in self._files:
                if r.copy_of is not None:
                    continue
                committed, pending = self._positions.committed(r)
                result.append(
                    FileStatus(
                        r.path,
                        r.file_id,
                        r.size,
                        r.read_pos,
                        committed,
                        pending,
                        r.current,
                        r.buffered,
                    )
                )
            return result

    def close(self) -> None:
        """Write the checkpoints, close every file and release the state directory.

        Lines handed out but not acknowledged by now stay behind the checkpoint: the next
        run reads them again.
        """
        if self._closed:
            return
        try:
            self.flush_checkpoints()
        finally:
            with self._positions.lock:
                self._closed = True
                self._files.close_all()
            self.store.close()
            self._wake.set()

    def __enter__(self) -> Tailer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            for reader in getattr(self, "_files", ()):
                with contextlib.suppress(OSError):
                    reader.close()

"""The loop that ties it together: find files, follow them across rotation, checkpoint acks.

Behaviour, like ``tail -F`` but with durable positions:

* The paths (globs allowed) are rescanned every ``rescan_interval`` seconds; a file that
  appears later is read from its beginning (it is new, every line of it is unseen).
* At start, a file with a matching checkpoint (same device + inode, same first bytes)
  resumes at the stored offset; a file without one starts at its end, unless
  ``from_beginning``, or unless a checkpoint for the same path shows it replaced a file we
  followed (it was rotated while we were down: read it all).
* Rename + create: the old file is still open, so it is read to its end (and kept open for
  ``close_rotated_after`` seconds of silence, for a writer that has not reopened yet) while
  the new file is read from offset 0.  Delete + recreate and a file missing for a while
  work the same way.  Copytruncate: the size shrinking below our offset, or the first bytes
  changing, restarts the file at 0 under a new identity.
* A new file that holds the lines of a checkpoint whose own file lost them (copytruncate's
  copy, see ``copies``) continues that checkpoint, whether the truncation is noticed
  before the copy, after it, or only at the next start.
* A checkpoint rotated away while we were down is looked for in its old directory by
  device + inode + fingerprint and finished.
* Every line handed out by ``poll`` is recorded in the file's ``AckTracker``; ``ack``
  (from any thread) moves the committed offset over contiguous acknowledgements only;
  ``flush_checkpoints`` (also called by ``poll`` every ``flush_interval``) writes them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from logpipe.logs2kafka.checkpoint import (
    LOCK_FILE,
    AckTracker,
    Checkpoint,
    CheckpointError,
    CheckpointStore,
)
from logpipe.logs2kafka.tail import paths
from logpipe.logs2kafka.tail.copies import (
    TAIL_BYTES,
    continues_at,
    holds,
    recognisable,
    tail_digest,
)
from logpipe.logs2kafka.tail.identity import (
    FINGERPRINT_BYTES,
    Fingerprint,
    digest,
    file_key,
    make_file_id,
)
from logpipe.logs2kafka.tail.reader import FileReader, Line
from logpipe.observability import StateLog, get_logger

log = get_logger("tail")


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


class Tailer:
    """Follows files matching ``patterns`` and hands out their lines in order per file."""

    def __init__(
        self,
        patterns: Sequence[str],
        store: CheckpointStore,
        from_beginning: bool = False,
        max_line_bytes: int = 256 * 1024,
        partial_line_timeout: float = 5.0,
        *,
        rescan_interval: float = 1.0,
        flush_interval: float = 1.0,
        close_rotated_after: float = 30.0,
        forget_after: float = 24 * 3600.0,
        wait_interval: float = 0.1,
        copy_wait: float = 10.0,
        chunk_bytes: int = 64 * 1024,
        fingerprint_bytes: int = FINGERPRINT_BYTES,
    ) -> None:
        if isinstance(patterns, str):
            patterns = [patterns]
        if max_line_bytes < 1 or chunk_bytes < 1:
            raise ValueError("max_line_bytes and chunk_bytes must be positive")
        if store.readonly:
            raise CheckpointError(
                f"state directory {store.state_dir} is in use by another process "
                f"(see {store.state_dir / LOCK_FILE}); one tailer per state directory"
            )
        self.patterns = list(patterns)
        self.store = store
        self.from_beginning = from_beginning
        self.max_line_bytes = max_line_bytes
        self.partial_line_timeout = partial_line_timeout
        self.rescan_interval = rescan_interval
        self.flush_interval = flush_interval
        self.close_rotated_after = max(close_rotated_after, partial_line_timeout)
        self.forget_after = forget_after
        self.wait_interval = wait_interval
        self.copy_wait = copy_wait
        self.chunk_bytes = chunk_bytes
        self.fingerprint_bytes = fingerprint_bytes

        self._readers: dict[tuple[int, int], FileReader] = {}
        self._trackers: dict[str, AckTracker] = {}  # file_id -> tracker (open or draining)
        self._draining: dict[str, bool] = {}  # closed file_id -> forget its entry when done
        self._lock = threading.Lock()  # trackers + store: ack() comes from other threads
        self._save_lock = threading.Lock()  # one checkpoint write at a time, in order
        self._wake = threading.Event()
        self._open_errors: dict[str, str] = {}
        self._flush_state = StateLog(log, initial="ok")
        self._rr = 0  # round-robin start among current files
        self._closed = False

        now = time.monotonic()
        self._next_scan = now
        self._next_flush = now + flush_interval
        self._scan(now, startup=True)
        self.flush_checkpoints()

    # -- public API --------------------------------------------------------------------------

    def poll(self, max_lines: int = 1000) -> list[Line]:
        """Complete lines ready now (at most ``max_lines``), oldest file first; never blocks.

        Lines are handed out once: each is recorded as sent and must be acknowledged with
        ``ack(line.file_id, line.end_offset)`` for the checkpoint to move past it.
        """
        if self._closed:
            return []
        now = time.monotonic()
        if now >= self._next_scan:
            self._scan(now)
        out: list[Line] = []
        for reader in self._reading_order():
            if len(out) >= max_lines:
                break
            self._service(reader, out, max_lines, now)
        if now >= self._next_flush:
            self._periodic_flush()
        return out

    def ack(self, file_id: str, end_offset: int) -> bool:
        """Delivery of the line ending at ``end_offset`` is confirmed (thread-safe).

        Returns True if the file's committed offset moved.  Unknown or repeated acks are
        ignored.
        """
        with self._lock:
            tracker = self._trackers.get(file_id)
            return tracker.ack(end_offset) if tracker is not None else False

    def flush_checkpoints(self) -> bool:
        """Write the committed positions now if they changed; returns whether it wrote.

        The positions are gathered under the lock ``ack`` takes; the file is written and
        fsynced outside it, so acknowledgements (the Kafka client's thread) never wait
        for the disk.
        """
        with self._save_lock:
            with self._lock:
                data = self._gather_checkpoints()
            if data is None:
                return False
            try:
                self.store.write(data)
            except BaseException:
                with self._lock:
                    self.store.mark_dirty()
                raise
        return True

    def _gather_checkpoints(self) -> bytes | None:
        """Move the committed offsets into the store; the state to write, if it changed."""
        by_id = {r.file_id: r for r in self._readers.values()}
        for file_id, tracker in list(self._trackers.items()):
            entry = self.store.get(file_id)
            if file_id in self._draining and tracker.in_flight == 0:
                forget = self._draining.pop(file_id)
                del self._trackers[file_id]
                if entry is not None and forget:
                    self.store.remove(file_id)
                    continue
                if entry is not None:
                    self._put(entry, tracker.committed, closed=True)
                continue
            if entry is None:
                continue
            reader = by_id.get(file_id)
            self._put(entry, tracker.committed, reader=reader)
        self._next_flush = time.monotonic() + self.flush_interval
        return self.store.snapshot()

    def _periodic_flush(self) -> None:
        """Flush from ``poll``: a failing disk is logged once and retried, never raised,
        since the positions stay in memory and the next flush writes them all."""
        try:
            self.flush_checkpoints()
        except OSError as exc:
            self._next_flush = time.monotonic() + self.flush_interval
            self._flush_state.set(
                "failing",
                f"cannot write checkpoints in {self.store.state_dir}: {exc}; retrying",
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

    def wakeup(self) -> None:
        """End a ``wait`` in another thread now (for example on shutdown)."""
        self._wake.set()

    def files(self) -> list[FileStatus]:
        """Status of every open file, for metrics (bytes behind) and logs."""
        with self._lock:
            result = []
            for r in self._readers.values():
                if r.copy_of is not None:
                    continue
                tracker = self._trackers.get(r.file_id)
                committed = tracker.committed if tracker else r.read_pos
                pending = tracker.pending if tracker else 0
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
            with self._lock:
                self._closed = True
                for reader in self._readers.values():
                    reader.close()
                self._readers.clear()
            self.store.close()
            self._wake.set()

    def __enter__(self) -> Tailer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- discovery ---------------------------------------------------------------------------

    def _scan(self, now: float, startup: bool = False) -> None:
        self._next_scan = now + self.rescan_interval
        found = paths.scan(self.patterns)
        new = [(path, st) for key, (path, st) in found.items() if key not in self._readers]
        # Files with a checkpoint of their own first, so a copy of one of them (same first
        # bytes, other inode) is recognised as a copy and does not claim its checkpoint.
        new.sort(key=lambda item: not self.store.find(item[1].st_dev, item[1].st_ino))
        for path, st in new:
            self._open(path, st, now, startup)
        for key, (path, _st) in found.items():
            reader = self._readers.get(key)
            if reader is None:
                continue
            if reader.path != path:
                log.info("file %s is now %s", reader.path, path)
                reader.path = path
            if not reader.current:
                log.info("file %s is back", path)
                reader.current = True
                reader.rotated_at = None
        for reader in self._readers.values():
            if reader.current and reader.key not in found:
                log.info("file %s rotated away or removed; reading it to its end", reader.path)
                reader.current = False
                reader.rotated_at = now
        if startup:
            self._recover_rotated(now)
        self._forget_stale()

    def _open(self, path: str, st: os.stat_result, now: float, startup: bool) -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            message = f"{type(exc).__name__}: {exc.strerror}"
            if self._open_errors.get(path) != message:
                self._open_errors[path] = message
                log.warning("cannot open %s: %s (will retry)", path, message)
            return
        if self._open_errors.pop(path, None):
            log.info("file %s can be read again", path)
        try:
            fst = os.fstat(fd)
            key = file_key(fst)
            if key in self._readers:  # replaced between stat and open by a file we follow
                os.close(fd)
                return
            self._start(path, fd, fst, now, startup)
        except OSError as exc:
            os.close(fd)
            log.warning("cannot follow %s: %s", path, exc)

    def _start(self, path: str, fd: int, st: os.stat_result, now: float, startup: bool) -> None:
        """Decide where to start reading a newly opened file and register it."""
        discard = False
        with self._lock:
            followed_before = bool(self.store.by_path(path))
            entry = self._matching_checkpoint(fd, st, path)
            truncated = False
            if entry is not None and entry.offset > st.st_size:  # truncated while we were away
                self._lost_content(entry)
                entry, truncated = None, True
            if entry is not None:
                fp = Fingerprint(entry.fp_len, entry.fp_hash)
                fp = fp.refreshed(fd, st.st_size, self.fingerprint_bytes) or fp
                file_id, offset = entry.file_id, entry.offset
                reason = "resuming from checkpoint"
            else:
                fp = Fingerprint.of_fd(fd, self.fingerprint_bytes)
                entry = self._copied_checkpoint(fd, st, fp)
                if entry is None and not startup and self._wait_if_copy(path, fd, st, fp, now):
                    return
                if entry is not None:
                    file_id, offset = entry.file_id, self._copy_resumes_at(entry, st.st_size)
                    reason = f"the copy of truncated {entry.path}, continuing it"
                elif truncated:
                    offset, reason = 0, "truncated since checkpoint, reading from the start"
                elif not startup:
                    offset, reason = 0, "new file, reading from the start"
                elif self.from_beginning:
                    offset, reason = 0, "reading from the start"
                elif followed_before:
                    offset, reason = 0, "replaced since checkpoint, reading from the start"
                else:
                    offset, discard = self._end_of_last_line(fd, st.st_size)
                    reason = "starting at the end"
                if entry is None:
                    file_id = self._new_file_id(st, fp)
            reader = self._make_reader(path, fd, st, file_id, offset, fp, now, discard)
            self._readers[reader.key] = reader
            tracker = self._continue_generation(file_id, offset)
            entry = entry or Checkpoint(file_id, path, st.st_dev, st.st_ino, 0, "", offset)
            self._put(entry, tracker.committed, reader=reader, closed=False)
        log.info("following %s at offset %d (%s)", path, offset, reason)

    def _make_reader(
        self,
        path: str,
        fd: int,
        st: os.stat_result,
        file_id: str,
        offset: int,
        fp: Fingerprint,
        now: float,
        discard: bool = False,
    ) -> FileReader:
        return FileReader(
            path,
            fd,
            st,
            file_id,
            offset,
            fp,
            max_line_bytes=self.max_line_bytes,
            chunk_bytes=self.chunk_bytes,
            fingerprint_bytes=self.fingerprint_bytes,
            now=now,
            discard_first_line=discard,
        )

    def _continue_generation(self, file_id: str, offset: int) -> AckTracker:
        """The tracker of ``file_id``: still there if lines of it are in flight, else new."""
        tracker = self._trackers.get(file_id)
        if tracker is None:
            tracker = self._trackers[file_id] = AckTracker(offset)
        self._draining.pop(file_id, None)
        return tracker

    # -- copytruncate's copy (see copies.py) ---------------------------------------------------

    def _copied_checkpoint(self, fd: int, st: os.stat_result, fp: Fingerprint) -> Checkpoint | None:
        """The checkpoint whose lines this new file holds while its own file lost them.

        That is copytruncate's copy, found after the truncation was noticed (moments ago,
        or before a restart).  A checkpoint still followed, or whose file still holds its
        lines, is not taken: this is then a plain copy or a look-alike.
        """
        if fp.length < self.fingerprint_bytes:
            return None
        followed = {r.file_id for r in self._readers.values()}
        for entry in self.store.all():
            if (
                entry.file_id not in followed
                and holds(entry, fd, st.st_size, fp, self.fingerprint_bytes)
                and not self._still_holds(entry)
            ):
                return entry
        return None

    def _still_holds(self, entry: Checkpoint) -> bool:
        """Does the checkpoint's own file still exist with its lines (same first bytes)?"""
        found = _find_inode(os.path.dirname(entry.path) or ".", entry.dev, entry.ino)
        if found is None or found[1].st_size < entry.offset:
            return False
        try:
            fd = os.open(found[0], os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            return Fingerprint(entry.fp_len, entry.fp_hash).matches(fd)
        finally:
            os.close(fd)

    def _copy_resumes_at(self, entry: Checkpoint, size: int) -> int:
        """Where a copy continues: after the lines already handed out if some are still in
        flight (they are acknowledged, or after a crash read again from the copy at the
        checkpoint), else at the checkpoint; never past where the copy was shown to hold
        the same bytes (``tail_offset``), so a false match cannot skip lines."""
        tracker = self._trackers.get(entry.file_id)
        if tracker is not None:
            return min(tracker.end, size)
        return min(entry.offset, entry.tail_offset)

    def _note_read_end(self, reader: FileReader) -> None:
        """Just noticed truncated: the bytes before where we stopped reading, for the copy.

        The copy is then checked where it is continued (``_copy_resumes_at``), not at the
        last checkpoint written.  Only the reader's memory holds them now; if it does not
        hold all of them (a long line was cut there) the entry keeps its last ones.
        """
        entry = self.store.get(reader.file_id)
        pos = reader.buf_pos
        if entry is not None and len(reader.tail) == min(TAIL_BYTES, pos):
            self.store.put(replace(entry, tail_offset=pos, tail_hash=digest(reader.tail)))

    def _lost_content(self, entry: Checkpoint) -> None:
        """The file of ``entry`` no longer holds its lines (truncated, or its inode reused).

        The entry is kept while a copy can be recognised by it (``_copied_checkpoint``;
        forgotten like any unfollowed entry after ``forget_after``), else dropped.
        """
        if not recognisable(entry, self.fingerprint_bytes):
            self.store.remove(entry.file_id)

    def _wait_if_copy(
        self, path: str, fd: int, st: os.stat_result, fp: Fingerprint, now: float
    ) -> bool:
        """Hold a new file that starts like an open file unread, for ``copy_wait`` seconds.

        If the open file is truncated meanwhile, this is its copy and continues it;
        otherwise it is read from its start as any new file (``_release_copy``).
        """
        for source in self._readers.values():
            if source.copy_of is None and source.fp == fp:
                break
        else:
            return False
        reader = self._make_reader(path, fd, st, "", st.st_size, fp, now)
        reader.copy_of = source.file_id
        reader.copy_until = now + self.copy_wait
        self._readers[reader.key] = reader
        log.info("%s starts like %s: waiting to see whether it is its copy", path, source.path)
        return True

    def _hand_over(self, source: FileReader) -> bool:
        """On truncation of ``source``: continue its lines in its waiting copy, if any.

        The copy is recognised by ``source``'s checkpoint, as in ``_copied_checkpoint``;
        it continues from the unfinished line, not yet handed out.
        """
        entry = self.store.get(source.file_id)
        if entry is None:
            return False
        for heir in self._readers.values():
            if heir.copy_of != source.file_id:
                continue
            size = os.fstat(heir.fd).st_size
            if holds(entry, heir.fd, size, heir.fp, self.fingerprint_bytes):
                offset = min(source.buf_pos, size)
                heir.resume_as(source.file_id, offset)
                tracker = self._continue_generation(source.file_id, offset)
                self._put(entry, tracker.committed, reader=heir, closed=False)
                log.info(
                    "continuing %s in its copy %s from offset %d", source.path, heir.path, offset
                )
                return True
        return False

    def _release_copy(self, reader: FileReader, now: float) -> None:
        """The original of a possible copy was not truncated within ``copy_wait``.

        If the file is a plain copy of the original's beginning (logrotate ``copy``, or
        ``cp``: the original holds the same bytes where the copy ends) its lines are read
        from the original: follow it from its end.  Otherwise it only started alike: read
        it whole, as any new file.
        """
        source = next(
            (r for r in self._readers.values() if r.file_id == reader.copy_of and r.fd >= 0),
            None,
        )
        reader.copy_of = None
        st = os.fstat(reader.fd)
        offset = 0
        if source is not None and st.st_size > 0:
            start = max(0, st.st_size - TAIL_BYTES)
            end_bytes = os.pread(reader.fd, st.st_size - start, start)
            if continues_at(source.fd, st.st_size, end_bytes):
                offset = st.st_size
        with self._lock:
            file_id = self._new_file_id(st, reader.fp)
            reader.resume_as(file_id, offset)
            reader.last_data = now
            self._continue_generation(file_id, offset)
            entry = Checkpoint(file_id, reader.path, reader.dev, reader.ino, 0, "", offset)
            self._put(entry, offset, reader=reader, closed=False)
        if offset:
            log.info(
                "%s is a copy of the beginning of %s, read there; following it from its end",
                reader.path,
                source.path if source else "?",
            )
        else:
            log.info("%s is not a copy; reading it from the start", reader.path)

    def _matching_checkpoint(self, fd: int, st: os.stat_result, path: str) -> Checkpoint | None:
        """The checkpoint of this very file, if any: same inode and same first bytes.

        Entries for this device + inode whose fingerprint does not match describe a file
        that no longer exists (inode reused, or content replaced) and are dropped.  An
        entry with the same path and inode but another device number is accepted too:
        device numbers may change across reboots for some filesystems.
        """
        open_ids = {r.file_id for r in self._readers.values()}
        for entry in self.store.find(st.st_dev, st.st_ino):
            if entry.file_id in open_ids:
                continue
            if Fingerprint(entry.fp_len, entry.fp_hash).matches(fd):
                return entry
            log.info("checkpoint %s is for an earlier file on the same inode", entry.file_id)
            self._lost_content(entry)
        for entry in self.store.by_path(path):
            if (
                entry.ino == st.st_ino
                and entry.file_id not in open_ids
                and entry.fp_len > 0
                and Fingerprint(entry.fp_len, entry.fp_hash).matches(fd)
            ):
                return entry
        return None

    def _recover_rotated(self, now: float) -> None:
        """Finish files that were rotated away (renamed) while we were not running.

        Looks for the file of each unclaimed checkpoint in its old directory by inode,
        then checks device and fingerprint.  Found with unread bytes: followed as a
        rotated file from the stored offset.
        """
        for entry in self.store.all():
            if entry.file_id in self._trackers:
                continue
            found = _find_inode(os.path.dirname(entry.path) or ".", entry.dev, entry.ino)
            if found is None:
                continue
            path, st = found
            if st.st_size <= entry.offset:
                continue
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                continue
            fst = os.fstat(fd)
            fp = Fingerprint(entry.fp_len, entry.fp_hash).refreshed(
                fd, fst.st_size, self.fingerprint_bytes
            )
            if file_key(fst) in self._readers or fp is None:
                os.close(fd)
                continue
            reader = self._make_reader(path, fd, fst, entry.file_id, entry.offset, fp, now)
            reader.current = False
            reader.rotated_at = now
            with self._lock:
                self._readers[reader.key] = reader
                self._trackers[entry.file_id] = AckTracker(entry.offset)
                self._put(entry, entry.offset, reader=reader, closed=False)
            log.info(
                "finishing %s (rotated from %s) from offset %d", path, entry.path, entry.offset
            )

    def _forget_stale(self) -> None:
        """Drop entries of files not followed and not updated for ``forget_after`` seconds."""
        horizon = time.time() - self.forget_after
        with self._lock:
            for entry in self.store.all():
                if entry.file_id not in self._trackers and entry.updated < horizon:
                    log.info("forgetting checkpoint of %s (%s)", entry.path, entry.file_id)
                    self.store.remove(entry.file_id)

    # -- reading -----------------------------------------------------------------------------

    def _reading_order(self) -> list[FileReader]:
        """Rotated files first (finish the old before the new), then current round-robin."""
        readers = list(self._readers.values())
        rotated = sorted((r for r in readers if not r.current), key=lambda r: r.rotated_at or 0.0)
        current = [r for r in readers if r.current]
        if len(current) > 1:
            self._rr = (self._rr + 1) % len(current)
            current = current[self._rr :] + current[: self._rr]
        return rotated + current

    def _service(self, reader: FileReader, out: list[Line], limit: int, now: float) -> None:
        first = len(out)
        if reader.copy_of is not None:
            if not reader.current:  # a possible copy that went away
                self._close_reader(reader, deleted=True)
                return
            if now < reader.copy_until:
                return
            self._release_copy(reader, now)
        try:
            st = reader.refresh_size()
            if reader.content_replaced():
                self._restart(reader, out)
            reader.read(out, limit, now)
        except OSError as exc:
            message = f"{type(exc).__name__}: {exc}"
            if reader.error != message:
                reader.error = message
                log.warning("error reading %s: %s (will retry)", reader.path, message)
            st = None
        else:
            if reader.error is not None:
                reader.error = None
                log.info("file %s can be read again", reader.path)
        if not reader.current and st is not None and not reader.has_backlog and len(out) < limit:
            idle = now - max(reader.last_data, reader.rotated_at or 0.0)
            if reader.has_partial:
                if idle >= self.partial_line_timeout:
                    reader.flush_partial(out)
            elif idle >= self.close_rotated_after:
                self._close_reader(reader, deleted=st.st_nlink == 0)
        if len(out) > first or reader.skipped:
            self._record_sent(reader, out, first)

    def _record_sent(self, reader: FileReader, out: list[Line], first: int) -> None:
        with self._lock:
            file_id = ""
            tracker: AckTracker | None = None
            for i in range(first, len(out)):
                line = out[i]
                if line.file_id != file_id:
                    file_id = line.file_id
                    tracker = self._trackers[file_id]
                tracker.sent(line.end_offset)  # type: ignore[union-attr]
            if reader.skipped:
                tracker = self._trackers.get(reader.file_id)
                if tracker is not None:
                    for end in reader.skipped:
                        tracker.skip(end)
                reader.skipped.clear()

    def _restart(self, reader: FileReader, out: list[Line]) -> None:
        """The file was truncated or rewritten in place: follow it from 0 as a new file.

        Its unread rest lives on only in a copy, if one was made where we look: a copy
        waiting for it continues its lines from the start of the unfinished line; a copy
        found later continues them through the old checkpoint (``_copied_checkpoint``).
        """
        old_id = reader.file_id
        st = os.fstat(reader.fd)
        fp = Fingerprint.of_fd(reader.fd, self.fingerprint_bytes)
        with self._lock:
            self._note_read_end(reader)
            if not self._hand_over(reader):
                reader.flush_partial(out)
                self._note_read_end(reader)
                # Its lines are gone here.  Kept for a copy that may still show up if one
                # can be recognised (``_copied_checkpoint``), else forgotten once acked.
                entry = self.store.get(old_id)
                self._draining[old_id] = entry is None or not recognisable(
                    entry, self.fingerprint_bytes
                )
            new_id = self._new_file_id(st, fp)
            reader.restart(new_id, fp)
            self._trackers[new_id] = AckTracker(0)
            entry = Checkpoint(new_id, reader.path, st.st_dev, st.st_ino, 0, "", 0)
            self._put(entry, 0, reader=reader)
        log.warning("file %s was truncated or rewritten; reading it from the start", reader.path)

    def _close_reader(self, reader: FileReader, deleted: bool) -> None:
        if reader.copy_of is None:
            log.info("done with rotated file %s", reader.path)
        with self._lock:
            reader.close()
            del self._readers[reader.key]
            if reader.copy_of is None:
                self._draining[reader.file_id] = deleted

    def _work_ready(self) -> bool:
        now = time.monotonic()
        if now >= self._next_scan:
            return True
        for reader in list(self._readers.values()):
            if reader.copy_of is not None:
                if now >= reader.copy_until:
                    return True
                continue
            if reader.error is not None:
                continue  # retried by the next poll (a rescan is due every second)
            try:
                reader.refresh_size()
            except OSError:
                continue
            if reader.has_backlog or reader.size < reader.read_pos:
                return True
            if not reader.current:
                idle = now - max(reader.last_data, reader.rotated_at or 0.0)
                due = self.partial_line_timeout if reader.has_partial else self.close_rotated_after
                if idle >= due:
                    return True
        return False

    # -- helpers -----------------------------------------------------------------------------

    def _put(
        self,
        entry: Checkpoint,
        offset: int,
        reader: FileReader | None = None,
        closed: bool | None = None,
    ) -> None:
        """Store ``entry`` with a new offset (and the reader's path and fingerprint).

        The hash of the bytes before the offset is read back from the reader's file; if
        the file no longer holds them (truncated, not noticed yet) the last hash that
        could be read stays, with its own offset.
        """
        tail_offset, tail_hash = entry.tail_offset, entry.tail_hash
        if reader is not None and (offset != tail_offset or not tail_hash):
            tail = self._read_tail(reader, offset)
            if tail is not None:
                tail_offset, tail_hash = offset, tail
        updated = Checkpoint(
            file_id=entry.file_id,
            path=reader.path if reader else entry.path,
            dev=reader.dev if reader else entry.dev,
            ino=reader.ino if reader else entry.ino,
            fp_len=reader.fp.length if reader else entry.fp_len,
            fp_hash=reader.fp.hash if reader else entry.fp_hash,
            offset=offset,
            updated=entry.updated,
            closed=entry.closed if closed is None else closed,
            tail_offset=tail_offset,
            tail_hash=tail_hash,
        )
        self.store.put(updated)

    def _read_tail(self, reader: FileReader, offset: int) -> str | None:
        """``tail_digest`` at ``offset`` in the reader's file, if it still holds its lines."""
        if reader.fd < 0 or not reader.fp.matches(reader.fd):
            return None
        return tail_digest(reader.fd, offset)

    def _new_file_id(self, st: os.stat_result, fp: Fingerprint) -> str:
        base = make_file_id(st.st_dev, st.st_ino, fp)
        file_id, n = base, 1
        while file_id in self._trackers or file_id in self.store:
            n += 1
            file_id = f"{base}.{n}"
        return file_id

    def _end_of_last_line(self, fd: int, size: int) -> tuple[int, bool]:
        """Where "the end" is: just after the last newline, so no line is cut in half.

        Returns (offset, discard_first_line).  If no newline is found in the last chunk
        of a larger file, start at the very end and drop the unfinished line there.
        """
        if size == 0:
            return 0, False
        start = max(0, size - self.chunk_bytes)
        tail = os.pread(fd, size - start, start)
        nl = tail.rfind(b"\n")
        if nl >= 0:
            return start + nl + 1, False
        if start == 0:
            return 0, False
        return size, True

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            for reader in self._readers.values():
                with contextlib.suppress(OSError):
                    reader.close()


def _find_inode(directory: str, dev: int, ino: int) -> tuple[str, os.stat_result] | None:
    """A regular file in ``directory`` with this device and inode, if there is one."""
    try:
        with os.scandir(directory) as it:
            for item in it:
                if item.inode() != ino:
                    continue
                try:
                    st = item.stat(follow_symlinks=False)
                except OSError:
                    continue
                if st.st_dev == dev and item.is_file(follow_symlinks=False):
                    return item.path, st
    except OSError:
        return None
    return None

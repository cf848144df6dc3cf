"""Positions of the followed files: what was handed out, what was acknowledged, what to write.

Every line handed out by ``poll`` is recorded in its file's ``AckTracker``; ``ack`` (from
any thread: the Kafka client's) moves the committed offset over contiguous
acknowledgements only; ``flush`` moves the committed offsets into the ``PositionStore``
and writes it.  A file no longer followed keeps its tracker until its last lines are
acknowledged ("draining"), then its entry is closed or forgotten.

``lock`` guards the trackers and the store: the other parts of the tailer hold it while
they change either.
"""

from __future__ import annotations

import threading

from logpipe.logs2kafka.checkpoint import AckTracker, Checkpoint, PositionStore
from logpipe.logs2kafka.tail.files import OpenFiles
from logpipe.logs2kafka.tail.identity import Fingerprint, make_file_id, tail_digest
from logpipe.logs2kafka.tail.reader import FileReader, Line
from logpipe.observability import get_logger

log = get_logger("tail")


class Positions:
    """Ack trackers of the files with lines in flight, and the store they are written to."""

    def __init__(self, store: PositionStore, files: OpenFiles) -> None:
        self.store = store
        self.lock = threading.Lock()  # trackers + store: ack() comes from other threads
        self._save_lock = threading.Lock()  # one checkpoint write at a time, in order
        self._files = files
        self._trackers: dict[str, AckTracker] = {}  # file_id -> tracker (open or draining)
        self._draining: dict[str, bool] = {}  # closed file_id -> forget its entry when done
        self.lost_bytes = 0  # bytes of followed files gone before they were read
        self.writes = 0  # checkpoint writes that reached the disk

    # -- from any thread -----------------------------------------------------------------------

    def ack(self, file_id: str, end_offset: int) -> bool:
        """Delivery of the line ending at ``end_offset`` is confirmed."""
        with self.lock:
            tracker = self._trackers.get(file_id)
            return tracker.ack(end_offset) if tracker is not None else False

    def flush(self) -> bool:
        """Write the committed positions now if they changed; returns whether it wrote.

        The positions are gathered under ``lock``; the store is written (and fsynced)
        outside it, so acknowledgements never wait for the disk.
        """
        with self._save_lock:
            with self.lock:
                data = self._gather()
            if data is None:
                return False
            try:
                self.store.write(data)
            except BaseException:
                with self.lock:
                    self.store.mark_dirty()
                raise
            self.writes += 1
        return True

    def _gather(self) -> bytes | None:
        """Move the committed offsets into the store; the state to write, if it changed."""
        by_id = self._files.by_id()
        for file_id, tracker in list(self._trackers.items()):
            entry = self.store.get(file_id)
            if file_id in self._draining and tracker.in_flight == 0:
                forget = self._draining.pop(file_id)
                del self._trackers[file_id]
                if entry is not None and forget:
                    self.store.remove(file_id)
                    continue
                if entry is not None:
                    self.put(entry, tracker.committed, closed=True)
                continue
            if entry is None:
                continue
            self.put(entry, tracker.committed, reader=by_id.get(file_id))
        return self.store.snapshot()

    # -- from the polling thread ---------------------------------------------------------------

    def record_sent(self, reader: FileReader, out: list[Line], first: int) -> None:
        """``out[first:]`` was handed out (and the reader's dropped fragments skipped).

        A fragment is dropped only where a generation of the file starts (its first,
        unfinished line), so its end comes before the lines read with it: it is recorded
        first, or the committed offset would move back to it after theirs.
        """
        with self.lock:
            if reader.skipped:
                self.record_skipped(reader)
            file_id = ""
            tracker: AckTracker | None = None
            for i in range(first, len(out)):
                line = out[i]
                if line.file_id != file_id:
                    file_id = line.file_id
                    tracker = self._trackers[file_id]
                tracker.sent(line.end_offset)  # type: ignore[union-attr]

    def lose(self, path: str, nbytes: int, why: str) -> None:
        """``nbytes`` of ``path`` went away unread: counted (a metric) and said once."""
        if nbytes > 0:
            self.lost_bytes += nbytes
            log.warning("%d bytes of %s were lost unread: %s", nbytes, path, why)

    def committed(self, reader: FileReader) -> tuple[int, int]:
        """(committed offset, lines pending) of an open file, for its status (under lock)."""
        tracker = self._trackers.get(reader.file_id)
        if tracker is None:
            return reader.read_pos, 0
        return tracker.committed, tracker.pending

    def forget_stale(self, horizon: float) -> None:
        """Drop entries of files not followed and not updated since ``horizon`` (epoch)."""
        with self.lock:
            for entry in self.store.all():
                if entry.file_id not in self._trackers and entry.updated < horizon:
                    log.info("forgetting checkpoint of %s (%s)", entry.path, entry.file_id)
                    self.store.remove(entry.file_id)

    # -- under lock ----------------------------------------------------------------------------

    def record_skipped(self, reader: FileReader) -> None:
        """The reader's dropped fragments need no delivery: past them for its file id.

        Called before the reader starts another generation (``restart``), so a fragment
        of the old content never moves the new content's position.
        """
        tracker = self._trackers.get(reader.file_id)
        if tracker is not None:
            for end in reader.skipped:
                tracker.skip(end)
        reader.skipped.clear()

    def tracked(self, file_id: str) -> bool:
        """Is ``file_id`` followed, or still waiting for acknowledgements?"""
        return file_id in self._trackers

    def tracker(self, file_id: str) -> AckTracker | None:
        return self._trackers.get(file_id)

    def track(self, file_id: str, offset: int) -> AckTracker:
        """A new generation of ``file_id``, committed at ``offset``."""
        tracker = self._trackers[file_id] = AckTracker(offset)
        return tracker

    def continue_generation(self, file_id: str, offset: int) -> AckTracker:
        """The tracker of ``file_id``: still there if lines of it are in flight, else new."""
        tracker = self._trackers.get(file_id)
        if tracker is None:
            tracker = self._trackers[file_id] = AckTracker(offset)
        self._draining.pop(file_id, None)
        return tracker

    def drain(self, file_id: str, forget: bool) -> None:
        """``file_id`` is no longer read: close its entry (or ``forget`` it) once acked."""
        self._draining[file_id] = forget

    def put(
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
            tail = _read_tail(reader, offset)
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
            size=max(reader.size, offset) if reader else max(entry.size, offset),
        )
        self.store.put(updated)

    def new_file_id(self, key: tuple[int, int], fp: Fingerprint) -> str:
        """An id for a file (device, inode) seen for the first time, unlike any tracked or
        stored one."""
        base = make_file_id(*key, fp)
        file_id, n = base, 1
        while file_id in self._trackers or file_id in self.store:
            n += 1
            file_id = f"{base}.{n}"
        return file_id


def _read_tail(reader: FileReader, offset: int) -> str | None:
    """``tail_digest`` at ``offset`` in the reader's file, if it still holds its lines."""
    if reader.fd < 0 or not reader.fp.matches(reader.fd):
        return None
    return tail_digest(reader.fd, offset)

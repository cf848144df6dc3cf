"""Recognising copytruncate's copy, so its lines are neither sent again nor lost.

With ``copytruncate`` logrotate copies the log, then truncates it in place.  Whatever the
tailer had not delivered yet at that moment exists only in the copy.  When the copy lands
where we look (a glob such as ``access.log*``), reading it from its start would send the
whole file again, and not reading it loses the undelivered rest.

The copy is recognised through the truncated file's checkpoint, whatever the order in
which the tailer notices the truncation and the copy, and also after a restart: a file
holds a checkpoint's lines if it starts with the same (complete) fingerprint *and* holds,
just before the checkpoint's ``tail_offset``, the bytes whose hash the checkpoint keeps
(``tail_hash``).  Both checks together make a false match between two distinct logs
practically impossible; a file that only starts alike is read as a new file.

The three orders, and who handles them (``CopyTruncate``):

* the copy appears first: it starts like an open file, so it is held unread for
  ``copy_wait`` seconds (``wait_if_copy``); if its original is truncated meanwhile it
  continues the original's lines (``truncated``), else it is released (``release``):
  followed from its end if it is a plain copy of the original's beginning, else read whole;
* the truncation is noticed first: the old checkpoint is kept while a copy can still be
  recognised by it, and a new file holding its lines continues it (``copied_checkpoint``);
* both happened while we were down: the same, at start.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace

from logpipe.logs2kafka.checkpoint import Checkpoint
from logpipe.logs2kafka.tail import siblings
from logpipe.logs2kafka.tail.files import OpenFiles
from logpipe.logs2kafka.tail.generations import Unseen
from logpipe.logs2kafka.tail.identity import (
    TAIL_BYTES,
    Fingerprint,
    digest,
    file_key,
    holds,
    recognisable,
)
from logpipe.logs2kafka.tail.paths import find_inode
from logpipe.logs2kafka.tail.positions import Positions
from logpipe.logs2kafka.tail.reader import FileReader, Line, ReaderOptions
from logpipe.observability import get_logger

log = get_logger("tail")


def continues_at(fd: int, offset: int, tail: bytes) -> bool:
    """Does the open file hold ``tail`` just before ``offset`` (so it can go on from there)?"""
    if offset < len(tail):
        return False
    if not tail:
        return offset == 0
    return os.pread(fd, len(tail), offset - len(tail)) == tail


class CopyTruncate:
    """The hand-over from a truncated file to its copy, in whatever order they are seen."""

    def __init__(
        self,
        files: OpenFiles,
        positions: Positions,
        options: ReaderOptions,
        unseen: Unseen,
        copy_wait: float,
    ) -> None:
        self._files = files
        self._unseen = unseen
        self._positions = positions
        self._store = positions.store
        self._options = options
        self._fingerprint_bytes = options.fingerprint_bytes
        self.copy_wait = copy_wait

    # -- a new file: is it the copy of a checkpoint? (called under the positions lock) -----------

    def copied_checkpoint(self, fd: int, st: os.stat_result, fp: Fingerprint) -> Checkpoint | None:
        """The checkpoint whose lines this new file holds while its own file lost them.

        That is copytruncate's copy, found after the truncation was noticed (moments ago,
        or before a restart).  A checkpoint still followed, or whose file still holds its
        lines, is not taken: this is then a plain copy or a look-alike.
        """
        if fp.length < self._fingerprint_bytes:
            return None
        followed = self._files.ids()
        for entry in self._store.all():
            if (
                entry.file_id not in followed
                and holds(entry, fd, st.st_size, fp, self._fingerprint_bytes)
                and not _still_holds(entry)
            ):
                return entry
        return None

    def resumes_at(self, entry: Checkpoint, size: int) -> int:
        """Where a copy continues: after the lines already handed out if some are still in
        flight (they are acknowledged, or after a crash read again from the copy at the
        checkpoint), else at the checkpoint; never past where the copy was shown to hold
        the same bytes (``tail_offset``), so a false match cannot skip lines."""
        tracker = self._positions.tracker(entry.file_id)
        if tracker is not None:
            return min(tracker.end, size)
        return min(entry.offset, entry.tail_offset)

    def lost_content(self, entry: Checkpoint) -> None:
        """The file of ``entry`` no longer holds its lines (truncated, or its inode reused).

        The entry is kept while a copy can be recognised by it (``copied_checkpoint``;
        forgotten like any unfollowed entry after ``forget_after``), else dropped.
        """
        if not recognisable(entry, self._fingerprint_bytes):
            self._store.remove(entry.file_id)

    def wait_if_copy(
        self, path: str, fd: int, st: os.stat_result, fp: Fingerprint, now: float
    ) -> bool:
        """Hold a new file that starts like an open file unread, for ``copy_wait`` seconds.

        If the open file is truncated meanwhile, this is its copy and continues it;
        otherwise it is read from its start as any new file (``release``).
        """
        for source in self._files:
            if source.copy_of is None and source.fp == fp:
                break
        else:
            return False
        reader = self._options.open(path, fd, st, "", st.st_size, fp, now)
        reader.copy_of = source.file_id
        reader.copy_until = now + self.copy_wait
        self._files.add(reader)
        log.info("%s starts like %s: waiting to see whether it is its copy", path, source.path)
        return True

    # -- an open file was truncated, or a held file's wait is over (polling thread) --------------

    def truncated(self, reader: FileReader, out: list[Line], seen: int) -> bool:
        """The file was truncated or rewritten in place: follow it from 0 as a new file.

        Its unread rest lives on only in a copy: a copy waiting for it continues its lines
        from the start of the unfinished line, else one next to it (``siblings``: the
        plain path's ``access.log.1``, even compressed) found now; a copy found later
        continues them through the old checkpoint (``copied_checkpoint``).  What the file
        was last ``seen`` to hold past where its lines continue is lost, and counted.
        Returns whether its lines continue in a copy.
        """
        old_id = reader.file_id
        st = os.fstat(reader.fd)
        fp = Fingerprint.of_fd(reader.fd, self._fingerprint_bytes)
        positions = self._positions
        adopted: FileReader | None = None
        with positions.lock:
            self._note_read_end(reader)
            kept = self._hand_over(reader)
            if kept is None and (adopted := self._adopt_sibling(reader)) is not None:
                kept = os.fstat(adopted.fd).st_size
            copied = kept is not None
            if kept is None:
                reader.flush_partial(out)
                self._note_read_end(reader)
                kept = reader.read_pos
                # Its lines are gone here.  Kept for a copy that may still show up if one
                # can be recognised (``copied_checkpoint``), else forgotten once acked.
                entry = self._store.get(old_id)
                positions.drain(
                    old_id,
                    entry is None or not recognisable(entry, self._fingerprint_bytes),
                )
            positions.lose(reader.path, seen - kept, "written before it was truncated")
            positions.record_skipped(reader)  # a dropped fragment of the old content
            new_id = positions.new_file_id(file_key(st), fp)
            reader.restart(new_id, fp)
            positions.track(new_id, 0)
            entry = Checkpoint(new_id, reader.path, st.st_dev, st.st_ino, 0, "", 0)
            positions.put(entry, 0, reader=reader)
        if adopted is not None:
            # Copied and truncated more than once since last read: the newer copies hold
            # lines never seen here (``generations``).
            self._unseen.after(
                adopted.path,
                reader.path,
                adopted.rotated_at or 0.0,
                "copied and truncated again before it was read",
            )
        if copied:
            # logrotate's copytruncate, handled: nothing to look into.
            log.info(
                "file %s was copied and truncated; its lines continue in the copy, "
                "and it is read from the start",
                reader.path,
            )
        else:
            log.warning(
                "file %s was truncated or rewritten; reading it from the start", reader.path
            )
        return copied

    def release(self, reader: FileReader, now: float) -> None:
        """The original of a possible copy was not truncated within ``copy_wait``.

        If the file is a plain copy of the original's beginning (logrotate ``copy``, or
        ``cp``: the original holds the same bytes where the copy ends) its lines are read
        from the original: follow it from its end.  Otherwise it only started alike: read
        it whole, as any new file.
        """
        source = self._files.original(reader.copy_of or "")
        reader.copy_of = None
        st = os.fstat(reader.fd)
        offset = 0
        if source is not None and st.st_size > 0:
            start = max(0, st.st_size - TAIL_BYTES)
            end_bytes = os.pread(reader.fd, st.st_size - start, start)
            if continues_at(source.fd, st.st_size, end_bytes):
                offset = st.st_size
        positions = self._positions
        with positions.lock:
            file_id = positions.new_file_id(file_key(st), reader.fp)
            reader.resume_as(file_id, offset)
            reader.last_data = now
            positions.continue_generation(file_id, offset)
            entry = Checkpoint(file_id, reader.path, reader.dev, reader.ino, 0, "", offset)
            positions.put(entry, offset, reader=reader, closed=False)
        if offset:
            log.info(
                "%s is a copy of the beginning of %s, read there; following it from its end",
                reader.path,
                source.path if source else "?",
            )
        else:
            log.info("%s is not a copy; reading it from the start", reader.path)

    # -- internals (under the positions lock) ---------------------------------------------------

    def _note_read_end(self, reader: FileReader) -> None:
        """Just noticed truncated: the bytes before where we stopped reading, for the copy.

        The copy is then checked where it is continued (``resumes_at``), not at the last
        checkpoint written.  Only the reader's memory holds them now; if it does not hold
        all of them (a long line was cut there) the entry keeps its last ones.
        """
        entry = self._store.get(reader.file_id)
        pos = reader.buf_pos
        if entry is not None and len(reader.tail) == min(TAIL_BYTES, pos):
            self._store.put(replace(entry, tail_offset=pos, tail_hash=digest(reader.tail)))

    def _hand_over(self, source: FileReader) -> int | None:
        """On truncation of ``source``: continue its lines in its waiting copy, if any.

        The copy is recognised by ``source``'s checkpoint, as in ``copied_checkpoint``;
        it continues from the unfinished line, not yet handed out.  Returns the size of
        the copy (where the lines it continues end), or None without one.
        """
        entry = self._store.get(source.file_id)
        if entry is None:
            return None
        for heir in self._files:
            if heir.copy_of != source.file_id:
                continue
            size = os.fstat(heir.fd).st_size
            if holds(entry, heir.fd, size, heir.fp, self._fingerprint_bytes):
                offset = min(source.buf_pos, size)
                heir.resume_as(source.file_id, offset)
                self._continue_in(heir, entry, offset)
                return size
        return None

    def _adopt_sibling(self, source: FileReader) -> FileReader | None:
        """On truncation of ``source``: continue its lines in a copy found next to it.

        Returns the copy's reader, or None if there is none.
        """
        entry = self._store.get(source.file_id)
        if entry is None or not recognisable(entry, self._fingerprint_bytes):
            return None
        sibling = siblings.find(entry, self._fingerprint_bytes, self._files.__contains__)
        if sibling is None:
            return None
        offset = min(source.buf_pos, os.fstat(sibling.fd).st_size)
        heir = siblings.follow(sibling, self._options, entry, offset, time.monotonic())
        self._files.add(heir)
        self._continue_in(heir, entry, offset)
        return heir

    def _continue_in(self, heir: FileReader, entry: Checkpoint, offset: int) -> None:
        heir.copy_for = entry.path
        tracker = self._positions.continue_generation(entry.file_id, offset)
        self._positions.put(entry, tracker.committed, reader=heir, closed=False)
        log.info("continuing %s in its copy %s from offset %d", entry.path, heir.path, offset)


def _still_holds(entry: Checkpoint) -> bool:
    """Does the checkpoint's own file still exist with its lines (same first bytes)?"""
    found = find_inode(os.path.dirname(entry.path) or ".", entry.dev, entry.ino)
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

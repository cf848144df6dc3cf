"""Finding the files to follow and deciding where each starts; noticing files move away.

* The paths (globs allowed) are rescanned every ``rescan_interval`` seconds; a file that
  appears later is read from its beginning (it is new, every line of it is unseen).
* At start, a file with a matching checkpoint (same device + inode, same first bytes)
  resumes at the stored offset; a file without one starts at its end, unless
  ``from_beginning``, or unless a checkpoint for the same path shows it replaced a file we
  followed (it was rotated while we were down: read it all).
* A file no longer found under the paths was rotated away (or removed): it is read to its
  end as a rotated file; one that comes back is current again.
* A checkpoint rotated away while we were down is looked for in its old directory by
  device + inode + fingerprint and finished.  Found at rotation generation k next to a
  followed path, the generations k-1 ... 1 without a checkpoint (created and rotated away
  while we were down) are read whole after it, oldest first, before the current file.
  The same while running, for a file found rotated away at a rescan: a path rotated more
  than once between two rescans left generations nobody saw at the path.
* Entries of files not followed for ``forget_after`` seconds are forgotten.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import replace

from logpipe.logs2kafka.checkpoint import Checkpoint
from logpipe.logs2kafka.tail import paths, siblings
from logpipe.logs2kafka.tail.copytruncate import CopyTruncate
from logpipe.logs2kafka.tail.files import OpenFiles
from logpipe.logs2kafka.tail.generations import Unseen
from logpipe.logs2kafka.tail.identity import Fingerprint, file_key
from logpipe.logs2kafka.tail.positions import Positions
from logpipe.logs2kafka.tail.reader import FileReader, ReaderOptions
from logpipe.observability import get_logger

log = get_logger("tail")

#: Seconds between two warnings that a path still matches no file.
UNMATCHED_REPEAT = 60.0


class Discovery:
    """Scans the paths, opens new files where they should start, notices rotations."""

    def __init__(
        self,
        patterns: Sequence[str],
        files: OpenFiles,
        positions: Positions,
        copies: CopyTruncate,
        unseen: Unseen,
        options: ReaderOptions,
        *,
        from_beginning: bool,
        rescan_interval: float,
        forget_after: float,
    ) -> None:
        self.patterns = list(patterns)
        self._files = files
        self._positions = positions
        self._store = positions.store
        self._copies = copies
        self._unseen = unseen
        self._options = options
        self.from_beginning = from_beginning
        self.rescan_interval = rescan_interval
        self.forget_after = forget_after
        self.next_scan = time.monotonic()
        self._open_errors: dict[str, str] = {}
        #: Files followed under the paths now (open and not rotated away).
        self.followed = 0
        #: Pattern -> when it was last said to match nothing (monotonic).
        self._unmatched: dict[str, float] = {}

    def scan(self, now: float, startup: bool = False) -> None:
        """Look at the paths now: open new files, mark those gone as rotated."""
        self.next_scan = now + self.rescan_interval
        unmatched: list[str] = []
        found = paths.scan(self.patterns, unmatched)
        self._say_unmatched(unmatched, now)
        files = self._files
        new = [(path, st) for key, (path, st) in found.items() if key not in files]
        # Files with a checkpoint of their own first, so a copy of one of them (same first
        # bytes, other inode) is recognised as a copy and does not claim its checkpoint.
        new.sort(key=lambda item: not self._store.find(item[1].st_dev, item[1].st_ino))
        for path, st in new:
            self._open(path, st, now, startup)
        for key, (path, _st) in found.items():
            reader = files.get(key)
            if reader is None:
                continue
            if reader.path != path:
                log.info("file %s is now %s", reader.path, path)
                reader.path = path
            if not reader.current:
                log.info("file %s is back", path)
                reader.current = True
                reader.rotated_at = None
        gone: list[FileReader] = []
        for reader in files:
            if reader.current and reader.key not in found:
                if reader.copy_for is not None:
                    log.info(
                        "copy %s of %s moved on (compressed or rotated); reading it to its end",
                        reader.path,
                        reader.copy_for,
                    )
                else:
                    log.info("file %s rotated away or removed; reading it to its end", reader.path)
                    gone.append(reader)
                reader.current = False
                reader.rotated_at = now
        for reader in gone if not startup else ():
            self._catch_up(reader, now)
        if startup:
            self._recover_rotated(now, {path for path, _st in found.values()})
        self._positions.forget_stale(time.time() - self.forget_after)
        self.followed = sum(1 for reader in files if reader.current)

    def _say_unmatched(self, unmatched: list[str], now: float) -> None:
        """A path that matches no file is said at start and again every
        ``UNMATCHED_REPEAT`` seconds while it matches none (a mistyped path ships
        nothing); once it matches, that is said once."""
        said = self._unmatched
        for pattern in unmatched:
            last = said.get(pattern)
            if last is None or now - last >= UNMATCHED_REPEAT:
                said[pattern] = now
                log.warning("path %s matches no file: nothing is read from it", pattern)
        for pattern in list(said):
            if pattern not in unmatched:
                del said[pattern]
                log.info("path %s matches a file now", pattern)

    def _catch_up(self, reader: FileReader, now: float) -> None:
        """A file just seen rotated away: if it was rotated more than once since the last
        rescan, the generations between it and the current file were never seen at the
        path; read them whole after it (``generations``)."""
        where = siblings.locate(reader.path, reader.key, reader.fp)
        if where is not None:
            self._unseen.after(
                where, reader.path, now, "rotated away before a rescan saw it at its path"
            )

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
            if file_key(fst) in self._files:  # replaced between stat and open by a file we follow
                os.close(fd)
                return
            self._start(path, fd, fst, now, startup)
        except OSError as exc:
            os.close(fd)
            log.warning("cannot follow %s: %s", path, exc)

    def _start(self, path: str, fd: int, st: os.stat_result, now: float, startup: bool) -> None:
        """Decide where to start reading a newly opened file and register it."""
        discard = False
        positions, copies = self._positions, self._copies
        fingerprint_bytes = self._options.fingerprint_bytes
        with positions.lock:
            followed_before = bool(self._store.by_path(path))
            entry = self._matching_checkpoint(fd, st, path)
            truncated = False
            if entry is not None and entry.offset > st.st_size:  # truncated while we were away
                copies.lost_content(entry)
                entry, truncated = None, True
            if entry is not None:
                fp = Fingerprint(entry.fp_len, entry.fp_hash)
                fp = fp.refreshed(fd, st.st_size, fingerprint_bytes) or fp
                file_id, offset = entry.file_id, entry.offset
                reason = "resuming from checkpoint"
            else:
                fp = Fingerprint.of_fd(fd, fingerprint_bytes)
                entry = copies.copied_checkpoint(fd, st, fp)
                if entry is None and not startup and copies.wait_if_copy(path, fd, st, fp, now):
                    return
                if entry is not None:
                    file_id, offset = entry.file_id, copies.resumes_at(entry, st.st_size)
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
                    file_id = positions.new_file_id(file_key(st), fp)
            reader = self._options.open(path, fd, st, file_id, offset, fp, now, discard)
            self._files.add(reader)
            tracker = positions.continue_generation(file_id, offset)
            entry = entry or Checkpoint(file_id, path, st.st_dev, st.st_ino, 0, "", offset)
            positions.put(entry, tracker.committed, reader=reader, closed=False)
        log.info("following %s at offset %d (%s)", path, offset, reason)

    def _matching_checkpoint(self, fd: int, st: os.stat_result, path: str) -> Checkpoint | None:
        """The checkpoint of this very file, if any: same inode and same first bytes.

        Entries for this device + inode whose fingerprint does not match describe a file
        that no longer exists (inode reused, or content replaced) and are dropped.  An
        entry with the same path and inode but another device number is accepted too:
        device numbers may change across reboots for some filesystems.
        """
        open_ids = self._files.ids()
        for entry in self._store.find(st.st_dev, st.st_ino):
            if entry.file_id in open_ids:
                continue
            if Fingerprint(entry.fp_len, entry.fp_hash).matches(fd):
                return entry
            log.info("checkpoint %s is for an earlier file on the same inode", entry.file_id)
            self._copies.lost_content(entry)
        for entry in self._store.by_path(path):
            if (
                entry.ino == st.st_ino
                and entry.file_id not in open_ids
                and entry.fp_len > 0
                and Fingerprint(entry.fp_len, entry.fp_hash).matches(fd)
            ):
                return entry
        return None

    def _recover_rotated(self, now: float, followed: set[str]) -> None:
        """Finish files that were rotated away while we were not running, and read those
        created and rotated away meanwhile.

        The file of each unclaimed checkpoint is looked for in its old directory by
        inode (renamed), then checked by device and fingerprint; else, unless it was
        finished, among its siblings (``siblings``: a copy, or a compressed generation).
        Found with unread bytes: followed as a rotated file from the stored offset.  Not
        found: its unread bytes, as far as known, are counted as lost (once).  Found (read
        or not) at a generation of a path still ``followed``: the newer generations
        without a checkpoint are read whole (``generations``).  The rotated files are read
        oldest generation first.
        """
        before = {reader.key for reader in self._files}
        newer: dict[str, None] = {}  # generations to read whole, in no order yet
        for entry in self._store.all():
            if self._positions.tracked(entry.file_id):
                continue
            where = self._resume_renamed(entry, now)
            if where is None and not entry.closed:
                where = self._resume_sibling(entry, now)
            if where is not None and not entry.closed and entry.path in followed:
                newer.update(dict.fromkeys(siblings.newer(where, entry.path)))
        self._unseen.read(newer, now, "created and rotated away while stopped")
        started = [r for r in self._files if r.key not in before and not r.current]
        started.sort(key=lambda r: siblings.reading_order(r.path))
        for i, reader in enumerate(started):  # read in this order (``Harvester``)
            reader.rotated_at = now + i * 1e-6

    def _resume_sibling(self, entry: Checkpoint, now: float) -> str | None:
        """Follow ``entry``'s file found among its siblings; where it was found (also when
        it holds nothing more to read), else None (its unread bytes counted lost)."""
        positions = self._positions
        known = self._files.__contains__
        found = siblings.find(entry, self._options.fingerprint_bytes, known)
        offset = min(entry.offset, entry.tail_offset) if entry.tail_hash else entry.offset
        if found is not None and os.fstat(found.fd).st_size > offset:
            reader = siblings.follow(found, self._options, entry, offset, now)
            self._follow_rotated(reader, entry, offset)
            return found.path
        with positions.lock:
            if found is not None:  # all read: not looked for again
                os.close(found.fd)
                self._store.put(replace(entry, closed=True))
                return found.path
            if entry.size > entry.offset:  # counted once
                positions.lose(entry.path, entry.size - entry.offset, "rotated away unread")
                self._store.put(replace(entry, size=entry.offset))
        return None

    def _resume_renamed(self, entry: Checkpoint, now: float) -> str | None:
        """Follow ``entry``'s file found renamed in its directory; where it is (also when
        it holds nothing more to read), or None if it is not there or already followed."""
        found = paths.find_inode(os.path.dirname(entry.path) or ".", entry.dev, entry.ino)
        if found is None:
            return None
        path, st = found
        if st.st_size < entry.offset or file_key(st) in self._files:
            return None
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        fst = os.fstat(fd)
        fp = Fingerprint(entry.fp_len, entry.fp_hash).refreshed(
            fd, fst.st_size, self._options.fingerprint_bytes
        )
        if file_key(fst) in self._files or fp is None:  # followed, or a reused inode
            os.close(fd)
            return None
        if fst.st_size <= entry.offset:  # nothing more to read
            os.close(fd)
            return path if fst.st_size == entry.offset else None
        reader = self._options.open(path, fd, fst, entry.file_id, entry.offset, fp, now)
        reader.current = False
        reader.rotated_at = now
        self._follow_rotated(reader, entry, entry.offset)
        return path

    def _follow_rotated(self, reader: FileReader, entry: Checkpoint, offset: int) -> None:
        positions = self._positions
        with positions.lock:
            self._files.add(reader)
            positions.track(entry.file_id, offset)
            positions.put(entry, offset, reader=reader, closed=False)
        log.info("finishing %s (rotated from %s) from offset %d", reader.path, entry.path, offset)

    def _end_of_last_line(self, fd: int, size: int) -> tuple[int, bool]:
        """Where "the end" is: just after the last newline, so no line is cut in half.

        Returns (offset, discard_first_line).  If no newline is found in the last chunk
        of a larger file, start at the very end and drop the unfinished line there.
        """
        if size == 0:
            return 0, False
        start = max(0, size - self._options.chunk_bytes)
        tail = os.pread(fd, size - start, start)
        nl = tail.rfind(b"\n")
        if nl >= 0:
            return start + nl + 1, False
        if start == 0:
            return 0, False
        return size, True

"""Reading whole the generations of a log that were created and rotated away unseen.

A followed file found again at rotation generation k (``access.log.2``, or
``access.log.2.gz``) was followed by the files logrotate made since: generations k-1 ... 1.
When nobody looked at the path while they were current, their lines exist only there:

* at start, for files rotated while the daemon was stopped (``Discovery``);
* on a rescan, when the path was rotated more than once since the last one (rotations
  faster than ``rescan_interval``: a generation lived and moved on between two looks);
* on a truncation, when the path was copied and truncated more than once since it was
  last read (the older copy holds our unread lines, the newer one lines never seen).

In each case the file found is read first, then these generations whole, oldest first,
then the current file: unless one is followed already or its first bytes show it has a
checkpoint of its own (it was read before), so each is read once.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from logpipe.logs2kafka.checkpoint import Checkpoint
from logpipe.logs2kafka.tail import siblings
from logpipe.logs2kafka.tail.files import OpenFiles
from logpipe.logs2kafka.tail.identity import Fingerprint, digest, file_key
from logpipe.logs2kafka.tail.positions import Positions
from logpipe.logs2kafka.tail.reader import ReaderOptions
from logpipe.observability import get_logger

log = get_logger("tail")

#: Apart in ``rotated_at`` (seconds) between generations read one after another.
_STEP = 1e-6


class Unseen:
    """Opens unseen generations as rotated files, in the order they were written."""

    def __init__(self, files: OpenFiles, positions: Positions, options: ReaderOptions) -> None:
        self._files = files
        self._positions = positions
        self._store = positions.store
        self._options = options

    def after(self, found: str, path: str, read_from: float, why: str) -> int:
        """Read the generations of ``path`` newer than ``found`` (where a file of
        ``path`` we read is now), after the files rotated at ``read_from``; how many."""
        return self.read(siblings.newer(found, path), read_from, why)

    def read(self, candidates: Iterable[str], read_from: float, why: str) -> int:
        """Read whole, in this order after ``read_from``, each of ``candidates`` that is
        not followed and matches no checkpoint by its first bytes; how many were."""
        entries = [e for e in self._store.all() if e.fp_len > 0]
        head_bytes = max([self._options.fingerprint_bytes, *(e.fp_len for e in entries)])

        def claimed(head: bytes) -> bool:
            return any(digest(head[: e.fp_len]) == e.fp_hash for e in entries)

        opened = 0
        for path in candidates:
            try:
                if file_key(os.stat(path)) in self._files:
                    continue
            except OSError:
                continue
            found = siblings.open_whole(path, head_bytes, claimed)
            if found is None:
                continue
            fd, positions = found.fd, self._positions
            fp = Fingerprint.of_fd(fd, self._options.fingerprint_bytes)
            st = os.fstat(fd)
            opened += 1
            with positions.lock:
                file_id = positions.new_file_id(found.key, fp)
                entry = Checkpoint(file_id, path, *found.key, 0, "", 0)
                reader = self._options.open(path, fd, st, file_id, 0, fp, read_from)
                reader.dev, reader.ino = found.key
                reader.current = False
                reader.rotated_at = read_from + opened * _STEP
                self._files.add(reader)
                positions.track(file_id, 0)
                positions.put(entry, 0, reader=reader, closed=False)
            log.info("reading %s whole: %s", path, why)
        return opened

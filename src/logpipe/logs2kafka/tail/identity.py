"""Which file is which: device + inode, confirmed by a fingerprint of the first bytes.

Device and inode alone are not enough: once a rotated file is deleted, the filesystem may
give its inode to the next new file, and a checkpoint keyed by inode would resume that new
file at the old file's offset, skipping its first lines.  Content alone is not enough
either (two files may start alike).  So a file is recognised by device + inode *and* by
the hash of its first ``fp_len`` bytes.

A log file starts empty and grows, so its first ``FINGERPRINT_BYTES`` are not all there
at first.  The fingerprint therefore records its own length: it covers
``min(size, FINGERPRINT_BYTES)`` bytes when taken, and a later check hashes the first
``fp_len`` bytes of the file as it is now.  A file that merely grew passes (its old prefix
is unchanged) and the fingerprint is then extended; a file whose beginning changed
(truncated and rewritten, or a new file on a reused inode) fails.

The hash of the ``TAIL_BYTES`` just before a position tells whether another file holds
the same bytes up to there (a copy of this one: see ``copytruncate``); ``holds`` asks
both questions of a checkpoint and a file.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from logpipe.logs2kafka.checkpoint import Checkpoint

FINGERPRINT_BYTES = 1024
#: The bytes just before a position whose hash a checkpoint keeps (see ``copytruncate``).
TAIL_BYTES = 64


def digest(data: bytes) -> str:
    """A short, stable hash of a file prefix (hex)."""
    return hashlib.blake2b(data, digest_size=8).hexdigest()


EMPTY_DIGEST = digest(b"")


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """Hash of the first ``length`` bytes of a file (immutable: replaced, never edited,
    so another thread never sees a length paired with the wrong hash)."""

    length: int = 0
    hash: str = EMPTY_DIGEST

    @classmethod
    def of_fd(cls, fd: int, limit: int = FINGERPRINT_BYTES) -> Fingerprint:
        """Fingerprint the first ``min(size, limit)`` bytes of an open file."""
        data = os.pread(fd, limit, 0)
        return cls(len(data), digest(data))

    def matches(self, fd: int) -> bool:
        """Does the open file still start with the bytes this fingerprint was taken from?"""
        if self.length == 0:
            return True
        data = os.pread(fd, self.length, 0)
        return len(data) == self.length and digest(data) == self.hash

    def refreshed(self, fd: int, size: int, limit: int = FINGERPRINT_BYTES) -> Fingerprint | None:
        """Check the file against this fingerprint, extended while the file grows.

        Returns the (possibly longer) fingerprint, or None when the file no longer starts
        with the fingerprinted bytes (its content was replaced).
        """
        if self.length >= limit or size <= self.length:
            return self if size >= self.length and self.matches(fd) else None
        data = os.pread(fd, limit, 0)
        if len(data) < self.length or digest(data[: self.length]) != self.hash:
            return None
        return Fingerprint(len(data), digest(data))


def file_key(st: os.stat_result) -> tuple[int, int]:
    """The (device, inode) pair naming a file while it exists."""
    return (st.st_dev, st.st_ino)


def make_file_id(dev: int, ino: int, fp: Fingerprint) -> str:
    """A readable, stable identifier: ``<dev>:<inode>:<fingerprint>`` (hex)."""
    return f"{dev:x}:{ino:x}:{fp.hash}"


def bytes_before(fd: int, offset: int) -> bytes:
    """The (up to ``TAIL_BYTES``) bytes of the open file just before ``offset``."""
    n = min(TAIL_BYTES, offset)
    return os.pread(fd, n, offset - n) if n else b""


def tail_digest(fd: int, offset: int) -> str | None:
    """Hash of ``bytes_before(offset)``; None if the file is shorter than ``offset``."""
    data = bytes_before(fd, offset)
    return digest(data) if len(data) == min(TAIL_BYTES, offset) else None


def recognisable(entry: Checkpoint, fingerprint_bytes: int) -> bool:
    """Can a copy of this checkpoint's file be told from a file that only starts alike?"""
    return entry.fp_len >= fingerprint_bytes and entry.tail_hash != ""


def holds(entry: Checkpoint, fd: int, size: int, fp: Fingerprint, fingerprint_bytes: int) -> bool:
    """Does the open file (fingerprint ``fp``) hold the checkpoint's lines up to its offset?"""
    return (
        recognisable(entry, fingerprint_bytes)
        and fp == Fingerprint(entry.fp_len, entry.fp_hash)
        and entry.offset <= size
        and tail_digest(fd, entry.tail_offset) == entry.tail_hash
    )

"""Recognising copytruncate's copy, so the lines only the copy still holds are not lost.

With ``copytruncate`` logrotate copies the log, then truncates it in place.  Whatever the
tailer had not read yet at that moment exists only in the copy.  When the copy lands
where we look (a glob such as ``access.log*``), reading it from its start would send the
whole day again, and not reading it loses the unread rest.  So a new file that starts
with the same first bytes as a followed file is taken for its copy, and continues that
file's lines from where the original was left, but only if it also holds, just before
that offset, the very bytes we last read from the original (``tail``).  Both checks
together make a false match between two distinct logs practically impossible; a file
that only looks like a copy is read normally after ``copy_wait`` seconds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from logpipe.tail.identity import Fingerprint

TAIL_BYTES = 64


@dataclass(slots=True)
class Retired:
    """A truncated file's lines as far as we read them, for a copy found a moment later."""

    file_id: str
    path: str
    fp: Fingerprint
    offset: int  # every byte before it was handed out
    tail: bytes  # the bytes just before ``offset``
    until: float  # monotonic time after which no copy is expected any more


def continues_at(fd: int, offset: int, tail: bytes) -> bool:
    """Does the open file hold ``tail`` just before ``offset`` (so it can go on from there)?"""
    if offset < len(tail):
        return False
    if not tail:
        return offset == 0
    return os.pread(fd, len(tail), offset - len(tail)) == tail

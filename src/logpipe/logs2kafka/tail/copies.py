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
"""

from __future__ import annotations

import os

from logpipe.logs2kafka.checkpoint import Checkpoint
from logpipe.logs2kafka.tail.identity import TAIL_BYTES, Fingerprint, bytes_before, tail_digest

__all__ = ["TAIL_BYTES", "bytes_before", "continues_at", "holds", "recognisable", "tail_digest"]


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


def continues_at(fd: int, offset: int, tail: bytes) -> bool:
    """Does the open file hold ``tail`` just before ``offset`` (so it can go on from there)?"""
    if offset < len(tail):
        return False
    if not tail:
        return offset == 0
    return os.pread(fd, len(tail), offset - len(tail)) == tail

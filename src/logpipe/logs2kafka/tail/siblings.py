"""Finding a file's unread lines again next to its path, where logrotate put them.

logrotate keeps a log's older generations beside it, under its name and a suffix:
``access.log.1`` (renamed, or copytruncate's copy), ``access.log.2.gz`` (compressed, the
original deleted), ``access.log-20250101``.  A checkpoint with unread lines whose file is
no longer where it was is looked for among these *siblings*: at start (rotated and
compressed while the daemon was not running) and when a followed file is truncated
(copytruncate: the rest is in its copy), whether or not the followed paths match them.

A plain sibling on another inode is taken only if it ``holds`` the checkpoint's lines
(same full fingerprint and the same bytes before the position).  A compressed sibling is
taken if its decompressed first bytes match the checkpoint's fingerprint and, when the
checkpoint knows them, the bytes before its position match too.  Its content is
decompressed into an unlinked temporary file (``tempfile``'s directory, ``TMPDIR``),
which is then read like any other file; only the first bytes and those from just before
the position on are written (the rest is a hole), so the disk used is about what is left
to read.

A checkpointed file found at generation k (``access.log.3.gz``) was followed by the files
logrotate made since, generations k-1 ... 1 (``access.log.2.gz``, ``access.log.1``):
``newer`` names them, oldest first, and ``open_whole`` opens one to be read from its start
(decompressed whole), unless its first bytes show it has a checkpoint of its own.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import re
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from logpipe.logs2kafka.checkpoint import Checkpoint
from logpipe.logs2kafka.tail.identity import (
    TAIL_BYTES,
    Fingerprint,
    digest,
    file_key,
    holds,
    tail_digest,
)
from logpipe.logs2kafka.tail.reader import FileReader, ReaderOptions
from logpipe.observability import get_logger

log = get_logger("tail")

#: Compressed generations read back, by suffix (the standard library's decompressors).
DECOMPRESS: dict[str, Callable[[str], BinaryIO]] = {
    ".gz": gzip.open,  # type: ignore[dict-item]
    ".bz2": bz2.open,  # type: ignore[dict-item]
    ".xz": lzma.open,  # type: ignore[dict-item]
}
_ROTATION_SUFFIX = re.compile(r"(?:[.-]\d+)+$")
_COPY_BYTES = 1024 * 1024  # decompressed bytes moved at a time
_BROKEN = (OSError, EOFError, lzma.LZMAError, zlib.error)


@dataclass(slots=True)
class Sibling:
    """A file found holding a checkpoint's lines: ``fd`` reads them (a decompressed
    temporary file for a compressed sibling); ``key`` is the sibling's own identity."""

    path: str
    fd: int
    key: tuple[int, int]
    compressed: bool


def stem(path: str) -> str:
    """The log's own name: ``access.log`` for ``access.log.2.gz`` or ``access.log-2025``."""
    name = os.path.basename(path)
    for suffix in DECOMPRESS:
        name = name.removesuffix(suffix)
    return _ROTATION_SUFFIX.sub("", name) or name


def siblings(path: str) -> Iterator[str]:
    """The other files next to ``path`` named after the same log, oldest generation last."""
    directory = os.path.dirname(path) or "."
    base = stem(path)
    own = os.path.basename(path)
    try:
        names = os.listdir(directory)
    except OSError:
        return
    prefixes = (base + ".", base + "-")
    for name in sorted(names, key=_generation):
        if name != own and name.startswith(prefixes):
            yield os.path.join(directory, name)


def age(path: str) -> tuple[str, tuple[int, ...]] | None:
    """How long ago a generation was rotated away, as a key (larger is older) comparable
    among one log's generations of the same naming: ``access.log.3.gz`` is older than
    ``access.log.1``, ``access.log-20250101`` older than ``access.log-20250102``.  None
    for a name without a rotation suffix."""
    name = os.path.basename(path)
    for suffix in DECOMPRESS:
        name = name.removesuffix(suffix)
    match = _ROTATION_SUFFIX.search(name)
    if match is None:
        return None
    numbers = tuple(int(n) for n in re.findall(r"\d+", match.group()))
    if match.group().startswith("-"):  # a date: the later, the younger
        return "-", tuple(-n for n in numbers)
    return ".", numbers


def reading_order(path: str) -> tuple[str, int, tuple[str, tuple[int, ...]]]:
    """Sort key putting one log's generations oldest first (a name without a rotation
    suffix before them)."""
    group = os.path.join(os.path.dirname(path), stem(path))
    key = age(path)
    if key is None:
        return group, 0, ("", ())
    scheme, numbers = key
    return group, 1, (scheme, tuple(-n for n in numbers))


def newer(found: str, path: str) -> list[str]:
    """The generations of ``path``'s log rotated away after ``found`` (one of them),
    oldest first: the files logrotate created after ``found``'s file.  Only names of
    ``found``'s kind (``.N`` or ``-DATE``) are compared; none if ``found`` is not one."""
    mine = age(found)
    if (
        mine is None
        or os.path.dirname(found) != os.path.dirname(path)
        or stem(found) != os.path.basename(path)
    ):
        return []
    younger = []
    for sibling in siblings(path):
        key = age(sibling)
        if key is not None and key[0] == mine[0] and key < mine:
            younger.append((key, sibling))
    return [sibling for _key, sibling in sorted(younger, reverse=True)]


def locate(path: str, key: tuple[int, int], fp: Fingerprint) -> str | None:
    """Where the file rotated away from ``path`` is now among its siblings: the one on
    its device and inode (renamed), else the one whose first bytes, decompressed if need
    be, are those ``fp`` was taken from (compressed since).  None if neither is there."""
    names = list(siblings(path))
    for sibling in names:
        try:
            if file_key(os.stat(sibling)) == key:
                return sibling
        except OSError:
            continue
    if fp.length == 0:
        return None
    for sibling in names:
        suffix = os.path.splitext(sibling)[1]
        try:
            if suffix in DECOMPRESS:
                with DECOMPRESS[suffix](sibling) as stream:
                    head = stream.read(fp.length)
            else:
                with open(sibling, "rb") as plain:
                    head = plain.read(fp.length)
        except _BROKEN:
            continue
        if len(head) == fp.length and digest(head) == fp.hash:
            return sibling
    return None


def open_whole(path: str, head_bytes: int, claimed: Callable[[bytes], bool]) -> Sibling | None:
    """``path`` opened to be read from its start (a compressed one decompressed whole into
    a temporary file), unless ``claimed`` says its first ``head_bytes`` belong to a file
    with a checkpoint; None then, or if it cannot be read."""
    try:
        st = os.stat(path)
        if not os.path.isfile(path):
            return None
        suffix = os.path.splitext(path)[1]
        if suffix in DECOMPRESS:
            with DECOMPRESS[suffix](path) as stream:
                head = stream.read(head_bytes)
                if claimed(head):
                    return None
                return Sibling(path, _unpack(stream, head, 0), file_key(st), True)
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except _BROKEN as exc:
        log.warning("cannot read %s: %s", path, exc)
        return None
    try:
        st = os.fstat(fd)
        if not claimed(os.pread(fd, head_bytes, 0)):
            return Sibling(path, fd, file_key(st), False)
    except OSError as exc:
        log.warning("cannot read %s: %s", path, exc)
    os.close(fd)
    return None


def find(
    entry: Checkpoint, fingerprint_bytes: int, skip: Callable[[tuple[int, int]], bool]
) -> Sibling | None:
    """A sibling of ``entry.path`` holding its lines (not one ``skip`` rejects), opened."""
    for path in siblings(entry.path):
        try:
            st = os.stat(path)
        except OSError:
            continue
        if skip(file_key(st)) or not os.path.isfile(path):
            continue
        suffix = os.path.splitext(path)[1]
        if suffix in DECOMPRESS:
            fd = _decompressed(path, entry, suffix, fingerprint_bytes)
            if fd is not None:
                return Sibling(path, fd, file_key(st), True)
        elif (fd := _plain_copy(path, entry, fingerprint_bytes)) is not None:
            return Sibling(path, fd, file_key(st), False)
    return None


def follow(
    sibling: Sibling, options: ReaderOptions, entry: Checkpoint, offset: int, now: float
) -> FileReader:
    """A reader of ``entry``'s lines in ``sibling`` from ``offset``: a rotated file (read
    before the current ones), known by the sibling's own device and inode."""
    st = os.fstat(sibling.fd)
    fp = Fingerprint(entry.fp_len, entry.fp_hash)
    fp = fp.refreshed(sibling.fd, st.st_size, options.fingerprint_bytes) or fp
    reader = options.open(sibling.path, sibling.fd, st, entry.file_id, offset, fp, now)
    reader.dev, reader.ino = sibling.key
    reader.current = False
    reader.rotated_at = now
    return reader


def _plain_copy(path: str, entry: Checkpoint, fingerprint_bytes: int) -> int | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        size = os.fstat(fd).st_size
        if holds(entry, fd, size, Fingerprint.of_fd(fd, fingerprint_bytes), fingerprint_bytes):
            return fd
    except OSError:
        pass
    os.close(fd)
    return None


def _decompressed(path: str, entry: Checkpoint, suffix: str, fingerprint_bytes: int) -> int | None:
    """An fd of the decompressed content if it starts like ``entry``'s file, else None."""
    if entry.fp_len <= 0:
        return None  # nothing to recognise it by
    try:
        with DECOMPRESS[suffix](path) as stream:
            head = stream.read(max(entry.fp_len, fingerprint_bytes))
            if len(head) < entry.fp_len or digest(head[: entry.fp_len]) != entry.fp_hash:
                return None
            keep_from = max(0, min(entry.offset, entry.tail_offset) - TAIL_BYTES)
            fd = _unpack(stream, head, keep_from)
    except _BROKEN as exc:
        log.warning("cannot read compressed %s: %s", path, exc)
        return None
    if not entry.tail_hash or tail_digest(fd, entry.tail_offset) == entry.tail_hash:
        return fd
    os.close(fd)
    return None


def _unpack(stream: BinaryIO, head: bytes, keep_from: int) -> int:
    """The rest of ``stream`` after ``head`` in an unlinked temporary file, bytes before
    ``keep_from`` (other than ``head``) left as a hole; returns its descriptor."""
    with tempfile.TemporaryFile(prefix="logs2kafka-") as tmp:
        fd = os.dup(tmp.fileno())
    try:
        os.pwrite(fd, head, 0)
        pos = len(head)
        while chunk := stream.read(_COPY_BYTES):
            end = pos + len(chunk)
            if end > keep_from:
                skip = max(0, keep_from - pos)
                os.pwrite(fd, chunk[skip:], pos + skip)
            pos = end
        os.ftruncate(fd, pos)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _generation(name: str) -> tuple[int, str]:
    """Sort key: ``access.log.1`` before ``access.log.2.gz`` before ``access.log.10``."""
    numbers = re.findall(r"\d+", name)
    return (int(numbers[-1]) if numbers else 0, name)

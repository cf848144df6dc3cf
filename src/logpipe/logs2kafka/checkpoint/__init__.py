"""Durable read positions: where each followed file is safe to resume from.

A position is only as good as what stands behind it, so two rules hold here:

* ``AckTracker`` moves a file's committed offset forward only over lines that were
  acknowledged *contiguously* from the start.  Kafka may acknowledge line 7 before line 5;
  the checkpoint then stays before line 5 until it too is acknowledged, so a crash can only
  cause lines to be sent again, never to be skipped.
* ``CheckpointStore`` replaces its JSON file atomically (write a temporary file, fsync,
  rename over the old one, fsync the directory).  A crash at any moment leaves either the
  old or the new state on disk, never a torn mix; a stray temporary file from a crash is
  ignored and removed.

Each entry also holds the file's identity (device, inode and a fingerprint of its first
bytes) so that a restart resumes a file only if it is still the same file.

One process owns a state directory at a time (an exclusive ``flock`` on ``lock``): two
tailers sharing positions would ship every line twice and overwrite each other's
checkpoints.  Anyone else opening the directory gets a read-only view, which is what an
operator or a test inspecting the positions of a running daemon needs.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

from logpipe.observability import get_logger

log = get_logger("checkpoint")

STATE_FILE = "checkpoints.json"
LOCK_FILE = "lock"
_TEMP_PREFIX = ".checkpoints-"
# Fields added since version 1 (tail_offset, tail_hash) are optional: older files load with
# their defaults, and older readers ignore them, so the version stays 1.
_FORMAT_VERSION = 1


class CheckpointError(Exception):
    """The state directory cannot be used (not writable, not a directory, or in use)."""


@dataclass(slots=True)
class Checkpoint:
    """One followed file: who it is and how far its lines are safely delivered.

    ``offset`` is the byte offset just after the last line whose delivery (and that of
    every line before it) was acknowledged.  ``fp_len``/``fp_hash`` fingerprint the first
    ``fp_len`` bytes of the file; a file is the same only if its first ``fp_len`` bytes
    still hash to ``fp_hash`` (a prefix check, so a small file may keep growing).
    ``path`` is for humans and for finding a successor after a rotation.

    ``tail_hash`` hashes the (up to 64) bytes just before ``tail_offset``, read back from
    the file when the entry was written; ``tail_offset`` is ``offset`` unless the file
    could not be read there any more (truncated under us: then the last offset where it
    could).  With the fingerprint it recognises a copy of the file (copytruncate's) after
    the file's own inode lost the content.  Files written before these fields existed load
    with ``tail_hash`` empty (unknown): such an entry is never matched to a copy.
    """

    file_id: str
    path: str
    dev: int
    ino: int
    fp_len: int
    fp_hash: str
    offset: int
    updated: float = field(default_factory=time.time)
    closed: bool = False  # no longer followed (rotated away and finished)
    tail_offset: int = 0
    tail_hash: str = ""  # empty: unknown

    @classmethod
    def from_json(cls, obj: dict[str, object]) -> Checkpoint:
        """Build from one entry of the state file; raises on a malformed entry."""
        return cls(
            file_id=str(obj["file_id"]),
            path=str(obj["path"]),
            dev=int(obj["dev"]),  # type: ignore[call-overload]
            ino=int(obj["ino"]),  # type: ignore[call-overload]
            fp_len=int(obj["fp_len"]),  # type: ignore[call-overload]
            fp_hash=str(obj["fp_hash"]),
            offset=int(obj["offset"]),  # type: ignore[call-overload]
            updated=float(obj.get("updated", 0.0)),  # type: ignore[arg-type]
            closed=bool(obj.get("closed", False)),
            tail_offset=int(obj.get("tail_offset", 0)),  # type: ignore[call-overload]
            tail_hash=str(obj.get("tail_hash", "")),
        )


class CheckpointStore:
    """The checkpoints of one tailer, kept in ``<state_dir>/checkpoints.json``.

    Changes are made in memory (``put``, ``remove``) and written by ``save()``, which does
    nothing when nothing changed, so a periodic flush costs no disk write while idle.
    Not thread-safe by itself: the ``Tailer`` serialises access.

    The first store to open a directory owns it until ``close()`` (or its process ends);
    a store opened while another process (or another open store) owns it is read-only:
    ``readonly`` is True and ``save()`` raises ``CheckpointError``.
    """

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.state_dir = Path(state_dir)
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CheckpointError(f"cannot create state directory {self.state_dir}: {exc}") from exc
        if not self.state_dir.is_dir():
            raise CheckpointError(f"state directory {self.state_dir} is not a directory")
        self.path = self.state_dir / STATE_FILE
        self._entries: dict[str, Checkpoint] = {}
        self._dirty = False
        self._lock_fd: int | None = None
        self.readonly = not self._take_lock()
        if not self.readonly:
            self._remove_stray_temp_files()  # only the owner may: others' could be in flight
        self._load()

    def close(self) -> None:
        """Give up ownership of the state directory (unsaved changes are not written)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    def _take_lock(self) -> bool:
        try:
            fd = os.open(self.state_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError:
            return False  # a read-only directory: look, don't touch
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        with contextlib.suppress(OSError):  # for the operator: who holds it
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd
        return True

    # -- reading -------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, file_id: object) -> bool:
        return file_id in self._entries

    def get(self, file_id: str) -> Checkpoint | None:
        return self._entries.get(file_id)

    def all(self) -> list[Checkpoint]:
        """Every entry, most recently updated first."""
        return sorted(self._entries.values(), key=lambda c: c.updated, reverse=True)

    def find(self, dev: int, ino: int) -> list[Checkpoint]:
        """Entries recorded for this device and inode, most recently updated first."""
        return [c for c in self.all() if c.dev == dev and c.ino == ino]

    def by_path(self, path: str) -> list[Checkpoint]:
        """Entries last seen under this path, most recently updated first."""
        return [c for c in self.all() if c.path == path]

    # -- changing ------------------------------------------------------------------------

    def put(self, checkpoint: Checkpoint) -> None:
        """Insert or replace the entry for ``checkpoint.file_id`` (written on ``save``)."""
        current = self._entries.get(checkpoint.file_id)
        if current is not None and _same_state(current, checkpoint):
            return
        checkpoint.updated = time.time()
        self._entries[checkpoint.file_id] = checkpoint
        self._dirty = True

    def remove(self, file_id: str) -> None:
        if self._entries.pop(file_id, None) is not None:
            self._dirty = True

    @property
    def dirty(self) -> bool:
        return self._dirty

    def save(self, force: bool = False) -> bool:
        """Write the state atomically if it changed; returns whether a write happened."""
        data = self.snapshot(force)
        if data is None:
            return False
        try:
            self.write(data)
        except BaseException:
            self._dirty = True
            raise
        return True

    def snapshot(self, force: bool = False) -> bytes | None:
        """The state to write, if it changed since the last snapshot (then marked clean).

        With ``write`` it lets a caller serialise under its own lock and do the slow part
        (fsync) outside it; on a failed write, call ``mark_dirty()``.
        """
        if not (self._dirty or force):
            return None
        if self.readonly:
            raise CheckpointError(f"{self.state_dir} is owned by another process: read-only")
        payload = {
            "version": _FORMAT_VERSION,
            "files": [asdict(c) for c in sorted(self._entries.values(), key=lambda c: c.path)],
        }
        self._dirty = False
        return json.dumps(payload, indent=1, sort_keys=True).encode()

    def mark_dirty(self) -> None:
        self._dirty = True

    def write(self, data: bytes) -> None:
        """Replace the state file with ``data`` atomically and durably."""
        fd, tmp = tempfile.mkstemp(prefix=_TEMP_PREFIX, suffix=".tmp", dir=self.state_dir)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_dir(self.state_dir)

    # -- internals -----------------------------------------------------------------------

    def _remove_stray_temp_files(self) -> None:
        """A temporary file left by a crash mid-write never became the state: drop it."""
        for stray in self.state_dir.glob(_TEMP_PREFIX + "*"):
            log.info("removing incomplete checkpoint file %s left by an interrupted write", stray)
            with contextlib.suppress(OSError):
                stray.unlink()

    def _load(self) -> None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return
        try:
            payload = json.loads(raw)
            entries = [Checkpoint.from_json(obj) for obj in payload["files"]]
        except (ValueError, KeyError, TypeError) as exc:
            # Cannot happen through save() (atomic replace); a damaged disk or a hand edit
            # can.  Keep the evidence, say so loudly, and start without positions rather
            # than refusing to run.
            if self.readonly:
                log.error("checkpoint file %s is unreadable (%s)", self.path, exc)
                return
            aside = self.path.with_name(f"{STATE_FILE}.corrupt-{int(time.time())}")
            os.replace(self.path, aside)
            log.error(
                "checkpoint file %s is unreadable (%s); moved to %s, starting without positions",
                self.path,
                exc,
                aside,
            )
            return
        self._entries = {c.file_id: c for c in entries}


def _same_state(a: Checkpoint, b: Checkpoint) -> bool:
    return (
        a.path == b.path
        and a.dev == b.dev
        and a.ino == b.ino
        and a.fp_len == b.fp_len
        and a.fp_hash == b.fp_hash
        and a.offset == b.offset
        and a.closed == b.closed
        and a.tail_offset == b.tail_offset
        and a.tail_hash == b.tail_hash
    )


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX: the directory entry lives in the directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the rename is still atomic
    finally:
        os.close(fd)


class AckTracker:
    """The committed offset of one file, moved only over contiguously acknowledged lines.

    ``sent(end_offset)`` is called for every line in the order it was read (so the tracker
    knows the order), ``ack(end_offset)`` when delivery of that line is confirmed, in any
    order.  ``committed`` is the end of the longest acknowledged prefix: the safe resume
    point.  Memory is one integer per line in flight.
    """

    __slots__ = ("_order", "_outstanding", "committed")

    def __init__(self, committed: int = 0) -> None:
        self.committed = committed
        self._order: deque[int] = deque()
        self._outstanding: set[int] = set()

    def sent(self, end_offset: int) -> None:
        """Record a line handed on for delivery; offsets must increase."""
        self._order.append(end_offset)
        self._outstanding.add(end_offset)

    def skip(self, end_offset: int) -> None:
        """Record bytes that need no delivery (for example a discarded fragment)."""
        self._order.append(end_offset)
        self._advance()

    def ack(self, end_offset: int) -> bool:
        """Mark a line delivered; returns True if the committed offset moved."""
        if end_offset not in self._outstanding:
            return False  # unknown or already acknowledged: harmless
        self._outstanding.discard(end_offset)
        if self._order and self._order[0] == end_offset:
            return self._advance()
        return False

    def _advance(self) -> bool:
        moved = False
        order, outstanding = self._order, self._outstanding
        while order and order[0] not in outstanding:
            self.committed = order.popleft()
            moved = True
        return moved

    @property
    def end(self) -> int:
        """Where the lines recorded so far end: reading this file continues from here."""
        return self._order[-1] if self._order else self.committed

    @property
    def pending(self) -> int:
        """Lines sent and not yet acknowledged."""
        return len(self._outstanding)

    @property
    def in_flight(self) -> int:
        """Positions recorded but not yet committed (acknowledged out of order or not)."""
        return len(self._order)

    def __repr__(self) -> str:
        return f"AckTracker(committed={self.committed}, pending={self.pending})"

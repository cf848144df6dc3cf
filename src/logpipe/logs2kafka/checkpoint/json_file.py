"""Checkpoints in one JSON file per state directory, replaced atomically.

``CheckpointStore`` replaces its JSON file atomically (write a temporary file, fsync,
rename over the old one, fsync the directory).  A crash at any moment leaves either the
old or the new state on disk, never a torn mix; a stray temporary file from a crash is
ignored and removed.

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
from dataclasses import asdict
from pathlib import Path

from logpipe.logs2kafka.checkpoint.store import Checkpoint, CheckpointError
from logpipe.observability import get_logger

log = get_logger("checkpoint")

STATE_FILE = "checkpoints.json"
LOCK_FILE = "lock"
_TEMP_PREFIX = ".checkpoints-"
# Fields added since version 1 (tail_offset, tail_hash, size) are optional: older files load with
# their defaults, and older readers ignore them, so the version stays 1.
_FORMAT_VERSION = 1


class CheckpointStore:
    """The checkpoints of one tailer, kept in ``<state_dir>/checkpoints.json``
    (a ``PositionStore``).

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

    @property
    def location(self) -> str:
        return str(self.state_dir)

    def ensure_writable(self) -> None:
        if self.readonly:
            raise CheckpointError(
                f"state directory {self.state_dir} is in use by another process "
                f"(see {self.state_dir / LOCK_FILE}); one tailer per state directory"
            )

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
        and a.size == b.size
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

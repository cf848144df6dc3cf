"""What a tailer needs of the place its checkpoints are kept: ``PositionStore``.

The tailer depends on this protocol only, so keeping positions somewhere else (another
file format, a database) takes one new class; ``CheckpointStore`` (``json_file``) is the
one in use.  ``Checkpoint`` is what is kept per followed file.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


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

    ``size`` is how many bytes the file was last seen to hold: if it vanishes before they
    are read, ``size - offset`` is what was lost (0: unknown, as in older files).
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
    size: int = 0  # bytes the file was last seen to hold (0: unknown)

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
            size=int(obj.get("size", 0)),  # type: ignore[call-overload]
        )


@runtime_checkable
class PositionStore(Protocol):
    """The checkpoints of one tailer: changed in memory, written as a whole.

    ``put``/``remove`` change entries in memory; ``snapshot`` serialises the state if it
    changed (under the tailer's lock) and ``write`` makes it durable (outside it, so
    acknowledgements never wait for the disk); ``save`` does both.  Not thread-safe: the
    tailer serialises access.  One writer at a time: a store that another process owns
    is ``readonly``.
    """

    readonly: bool

    @property
    def location(self) -> str:
        """Where the checkpoints are kept, for messages to the operator."""
        ...

    def ensure_writable(self) -> None:
        """Raise ``CheckpointError`` (saying why) unless this store may be written."""
        ...

    def __len__(self) -> int: ...

    def __contains__(self, file_id: object) -> bool: ...

    def get(self, file_id: str) -> Checkpoint | None: ...

    def all(self) -> list[Checkpoint]:
        """Every entry, most recently updated first."""
        ...

    def find(self, dev: int, ino: int) -> list[Checkpoint]:
        """Entries recorded for this device and inode, most recently updated first."""
        ...

    def by_path(self, path: str) -> list[Checkpoint]:
        """Entries last seen under this path, most recently updated first."""
        ...

    def put(self, checkpoint: Checkpoint) -> None:
        """Insert or replace the entry for ``checkpoint.file_id`` (stamping ``updated``)."""
        ...

    def remove(self, file_id: str) -> None: ...

    def snapshot(self, force: bool = False) -> bytes | None:
        """The state to write if it changed since the last snapshot (then marked clean)."""
        ...

    def write(self, data: bytes) -> None:
        """Make a snapshot durable, atomically: after a crash, the old state or the new."""
        ...

    def mark_dirty(self) -> None:
        """A write failed: the next snapshot must be taken even if nothing changes."""
        ...

    def save(self, force: bool = False) -> bool:
        """``snapshot`` and ``write`` in one; returns whether a write happened."""
        ...

    def close(self) -> None:
        """Give up ownership (unsaved changes are not written)."""
        ...

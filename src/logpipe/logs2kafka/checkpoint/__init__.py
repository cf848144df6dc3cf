"""Durable read positions: where each followed file is safe to resume from.

A position is only as good as what stands behind it, so two rules hold here:

* ``AckTracker`` (``acks``) moves a file's committed offset forward only over lines that
  were acknowledged *contiguously* from the start, so a crash can only cause lines to be
  sent again, never to be skipped.
* ``CheckpointStore`` (``json_file``) replaces its file atomically, so a crash at any
  moment leaves the old or the new state on disk, never a torn mix.  It implements
  ``PositionStore`` (``store``), all the tailer asks of where positions are kept.

Each entry (``Checkpoint``) also holds the file's identity (device, inode and a
fingerprint of its first bytes) so that a restart resumes a file only if it is still the
same file.
"""

from logpipe.logs2kafka.checkpoint.acks import AckTracker
from logpipe.logs2kafka.checkpoint.json_file import LOCK_FILE, STATE_FILE, CheckpointStore
from logpipe.logs2kafka.checkpoint.store import Checkpoint, CheckpointError, PositionStore

__all__ = [
    "LOCK_FILE",
    "STATE_FILE",
    "AckTracker",
    "Checkpoint",
    "CheckpointError",
    "CheckpointStore",
    "PositionStore",
]

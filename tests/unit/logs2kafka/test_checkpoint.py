"""Checkpoint store (atomic, crash-safe), AckTracker (contiguous acknowledgement), and the
PositionStore protocol the tailer depends on."""

from __future__ import annotations

import json
import os
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from logpipe.logs2kafka.checkpoint import (
    STATE_FILE,
    AckTracker,
    Checkpoint,
    CheckpointError,
    CheckpointStore,
    PositionStore,
)


def entry(file_id: str = "1:2:abc", offset: int = 10, path: str = "/var/log/a.log") -> Checkpoint:
    return Checkpoint(file_id, path, 1, 2, 5, "abc", offset)


# -- AckTracker ------------------------------------------------------------------------------


def test_in_order_acks_advance_one_by_one():
    t = AckTracker(100)
    for end in (110, 120, 130):
        t.sent(end)
    assert t.committed == 100
    assert t.ack(110) and t.committed == 110
    assert t.ack(120) and t.committed == 120
    assert t.ack(130) and t.committed == 130
    assert t.pending == 0 and t.in_flight == 0


def test_out_of_order_acks_wait_for_the_gap():
    t = AckTracker(0)
    for end in (10, 20, 30, 40):
        t.sent(end)
    assert not t.ack(30)
    assert not t.ack(40)
    assert t.committed == 0
    assert t.ack(10) and t.committed == 10
    assert t.ack(20) and t.committed == 40  # jumps over the already acknowledged 30 and 40
    assert t.pending == 0


def test_unknown_and_repeated_acks_are_ignored():
    t = AckTracker(0)
    t.sent(10)
    t.sent(20)
    assert not t.ack(15)  # never sent
    assert t.ack(10)
    assert not t.ack(10)  # repeated
    assert t.committed == 10 and t.pending == 1


def test_skipped_positions_commit_when_reached():
    t = AckTracker(0)
    t.skip(5)  # nothing pending before it: commits at once
    assert t.committed == 5
    t.sent(10)
    t.skip(15)
    t.sent(20)
    assert t.ack(10) and t.committed == 15
    assert t.ack(20) and t.committed == 20


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=60), st.randoms(use_true_random=False))
def test_committed_is_always_the_longest_acknowledged_prefix(n: int, rnd: random.Random):
    ends = [10 * (i + 1) for i in range(n)]
    t = AckTracker(0)
    for end in ends:
        t.sent(end)
    order = ends[:]
    rnd.shuffle(order)
    acked: set[int] = set()
    for end in order:
        t.ack(end)
        acked.add(end)
        prefix = 0
        for e in ends:
            if e not in acked:
                break
            prefix = e
        assert t.committed == prefix
    assert t.committed == ends[-1] and t.pending == 0


# -- CheckpointStore -------------------------------------------------------------------------


def test_round_trip(tmp_path):
    store = CheckpointStore(tmp_path)
    store.put(entry("a", 10))
    store.put(entry("b", 20, "/var/log/b.log"))
    assert store.save()
    again = CheckpointStore(tmp_path)
    assert len(again) == 2
    assert again.get("a").offset == 10
    assert again.get("b").path == "/var/log/b.log"
    assert [c.file_id for c in again.find(1, 2)] and again.by_path("/var/log/b.log")
    payload = json.loads((tmp_path / STATE_FILE).read_text())
    assert payload["version"] == 1 and {f["file_id"] for f in payload["files"]} == {"a", "b"}


def test_save_writes_only_when_something_changed(tmp_path):
    store = CheckpointStore(tmp_path)
    store.put(entry())
    assert store.save()
    assert not store.save()
    store.put(entry())  # same state again
    assert not store.dirty and not store.save()
    store.put(entry(offset=11))
    assert store.save()
    store.remove("1:2:abc")
    assert store.save()
    assert len(CheckpointStore(tmp_path)) == 0


def test_stray_temp_file_from_a_crash_mid_write_is_ignored(tmp_path):
    store = CheckpointStore(tmp_path)
    store.put(entry(offset=42))
    store.save()
    store.close()  # the process ended
    # A crash after the temporary file was created and half written, before the rename.
    stray = tmp_path / ".checkpoints-crash.tmp"
    stray.write_bytes(b'{"version": 1, "files": [{"file_id": "1:2:abc", "offs')
    again = CheckpointStore(tmp_path)
    assert again.get("1:2:abc").offset == 42
    assert not stray.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoints.json", "lock"]


def test_failed_write_leaves_the_previous_state(tmp_path, monkeypatch):
    store = CheckpointStore(tmp_path)
    store.put(entry(offset=42))
    store.save()
    store.put(entry(offset=99))

    def crash(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        store.save()
    monkeypatch.undo()
    assert CheckpointStore(tmp_path).get("1:2:abc").offset == 42
    assert store.dirty  # still to be written
    assert store.save()
    assert CheckpointStore(tmp_path).get("1:2:abc").offset == 99


def test_unreadable_state_is_set_aside_not_fatal(tmp_path):
    (tmp_path / STATE_FILE).write_text("{not json")
    store = CheckpointStore(tmp_path)
    assert len(store) == 0
    aside = [p for p in tmp_path.iterdir() if p.name.startswith(STATE_FILE + ".corrupt-")]
    assert len(aside) == 1 and aside[0].read_text() == "{not json"


def test_one_owner_per_state_directory(tmp_path):
    owner = CheckpointStore(tmp_path)
    owner.put(entry(offset=7))
    owner.save()
    (tmp_path / ".checkpoints-inflight.tmp").write_bytes(b"being written by the owner")
    viewer = CheckpointStore(tmp_path)
    assert not owner.readonly and viewer.readonly
    assert viewer.get("1:2:abc").offset == 7  # a running daemon's positions can be read
    assert (tmp_path / ".checkpoints-inflight.tmp").exists()  # and are not disturbed
    viewer.put(entry(offset=8))
    with pytest.raises(CheckpointError):
        viewer.save()
    owner.close()
    successor = CheckpointStore(tmp_path)
    assert not successor.readonly
    assert not (tmp_path / ".checkpoints-inflight.tmp").exists()


def test_a_tailer_refuses_a_state_directory_in_use(tmp_path):
    from logpipe.logs2kafka.tail import Tailer

    first = Tailer([str(tmp_path / "*.log")], CheckpointStore(tmp_path / "state"))
    with pytest.raises(CheckpointError, match="in use"):
        Tailer([str(tmp_path / "*.log")], CheckpointStore(tmp_path / "state"))
    first.close()
    Tailer([str(tmp_path / "*.log")], CheckpointStore(tmp_path / "state")).close()


def test_entries_written_before_the_tail_fields_still_load(tmp_path):
    """A state file from before ``tail_offset``/``tail_hash`` existed: positions are kept,
    the tail is unknown (such an entry is never matched to a copy)."""
    old = {
        "version": 1,
        "files": [
            {
                "file_id": "1:2:abc",
                "path": "/var/log/a.log",
                "dev": 1,
                "ino": 2,
                "fp_len": 1024,
                "fp_hash": "abc",
                "offset": 4096,
                "updated": 1.0,
                "closed": False,
            }
        ],
    }
    (tmp_path / STATE_FILE).write_text(json.dumps(old))
    store = CheckpointStore(tmp_path)
    loaded = store.get("1:2:abc")
    assert loaded is not None and loaded.offset == 4096
    assert (loaded.tail_offset, loaded.tail_hash) == (0, "")


def test_the_tailer_keeps_the_hash_of_the_bytes_before_the_offset(tmp_path):
    from logpipe.logs2kafka.tail import Tailer
    from logpipe.logs2kafka.tail.identity import digest

    log = tmp_path / "a.log"
    data = b"".join(b"line %04d of the log\n" % n for n in range(100))
    log.write_bytes(data)
    tailer = Tailer([str(log)], CheckpointStore(tmp_path / "state"), from_beginning=True)
    got = tailer.poll()
    for line in got[:60]:
        tailer.ack(line.file_id, line.end_offset)
    tailer.close()
    (saved,) = CheckpointStore(tmp_path / "state").all()
    offset = got[59].end_offset
    assert saved.offset == saved.tail_offset == offset
    assert saved.tail_hash == digest(data[offset - 64 : offset])


# -- PositionStore: what the tailer needs of a store -----------------------------------------


class MemoryStore:
    """Positions kept in memory only: the whole of what another store has to provide."""

    readonly = False
    location = "memory"

    def __init__(self) -> None:
        self.entries: dict[str, Checkpoint] = {}
        self.written: list[bytes] = []
        self._dirty = False
        self.closed = False

    def ensure_writable(self) -> None:
        pass

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, file_id: object) -> bool:
        return file_id in self.entries

    def get(self, file_id: str) -> Checkpoint | None:
        return self.entries.get(file_id)

    def all(self) -> list[Checkpoint]:
        return sorted(self.entries.values(), key=lambda c: c.updated, reverse=True)

    def find(self, dev: int, ino: int) -> list[Checkpoint]:
        return [c for c in self.all() if (c.dev, c.ino) == (dev, ino)]

    def by_path(self, path: str) -> list[Checkpoint]:
        return [c for c in self.all() if c.path == path]

    def put(self, checkpoint: Checkpoint) -> None:
        self.entries[checkpoint.file_id] = checkpoint
        self._dirty = True

    def remove(self, file_id: str) -> None:
        self._dirty |= self.entries.pop(file_id, None) is not None

    def snapshot(self, force: bool = False) -> bytes | None:
        if not (self._dirty or force):
            return None
        self._dirty = False
        return json.dumps({c.file_id: c.offset for c in self.entries.values()}).encode()

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def mark_dirty(self) -> None:
        self._dirty = True

    def save(self, force: bool = False) -> bool:
        data = self.snapshot(force)
        if data is not None:
            self.write(data)
        return data is not None

    def close(self) -> None:
        self.closed = True


def test_the_json_store_and_a_memory_store_are_position_stores(tmp_path):
    assert isinstance(CheckpointStore(tmp_path), PositionStore)
    assert isinstance(MemoryStore(), PositionStore)


def test_the_tailer_keeps_its_positions_in_any_position_store(tmp_path):
    from logpipe.logs2kafka.tail import Tailer

    log = tmp_path / "a.log"
    log.write_bytes(b"one\ntwo\n")
    store = MemoryStore()
    tailer = Tailer([str(log)], store, from_beginning=True)
    got = tailer.poll()
    tailer.ack(got[0].file_id, got[0].end_offset)
    tailer.close()
    assert [line.data for line in got] == [b"one", b"two"]
    assert json.loads(store.written[-1]) == {got[0].file_id: 4}
    assert store.closed

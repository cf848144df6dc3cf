"""Start position and restarts: checkpoints resume exactly after what was acknowledged."""

from __future__ import annotations

import json
import os

from logpipe.logs2kafka.checkpoint import STATE_FILE, Checkpoint, CheckpointStore
from logpipe.logs2kafka.tail.identity import digest
from tests.support.tailkit import Collector, make_tailer, seq_line, seqs


def lines(a: int, b: int) -> bytes:
    return b"".join(seq_line(n) for n in range(a, b))


def append(path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


def crash(tailer) -> None:
    """Stop without close(): whatever was not flushed yet is lost, as in kill -9.

    The process is gone, so is its lock; the abandoned tailer is never polled again (its
    files are closed when it is collected, without writing anything).
    """
    tailer.store.close()


def test_no_checkpoint_starts_at_the_end(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(lines(0, 5))
    tailer = make_tailer(str(log), tmp_path / "state")
    c = Collector(tailer)
    c.settle(0.1)
    assert c.lines == []
    append(log, lines(5, 8))
    c.until(lambda: len(c.lines) == 3)
    tailer.close()
    assert seqs(c.lines) == [5, 6, 7]


def test_from_beginning_reads_existing_lines(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(lines(0, 5))
    tailer = make_tailer(str(log), tmp_path / "state", from_beginning=True)
    c = Collector(tailer)
    c.until(lambda: len(c.lines) == 5)
    tailer.close()
    assert seqs(c.lines) == [0, 1, 2, 3, 4]
    assert c.lines[-1].end_offset == log.stat().st_size


def test_start_at_end_never_cuts_a_line_being_written(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(lines(0, 3) + b"seq=000003 ab")  # the writer is mid-line
    tailer = make_tailer(str(log), tmp_path / "state")
    c = Collector(tailer)
    append(log, b"cd\n" + lines(4, 5))
    c.until(lambda: len(c.lines) == 2)
    tailer.close()
    assert c.data == [b"seq=000003 abcd", seq_line(4)[:-1]]


def test_restart_resumes_exactly_after_the_acknowledged_offset(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(lines(0, 10))
    tailer = make_tailer(str(log), tmp_path / "state", from_beginning=True)
    got = tailer.poll()
    assert seqs(got) == list(range(10))
    for line in got[:6]:
        tailer.ack(line.file_id, line.end_offset)
    tailer.close()
    append(log, lines(10, 12))

    again = make_tailer(str(log), tmp_path / "state", from_beginning=True)
    c = Collector(again)
    c.until(lambda: len(c.lines) == 6)
    c.settle(0.1)
    again.close()
    assert seqs(c.lines) == [6, 7, 8, 9, 10, 11]
    assert c.lines[0].file_id == got[0].file_id  # same file, same identity


def test_unacknowledged_lines_come_again_after_a_crash(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(lines(0, 10))
    tailer = make_tailer(str(log), tmp_path / "state", from_beginning=True)
    got = tailer.poll()
    for i in (0, 1, 2, 4, 5, 7):  # Kafka acknowledged out of order; 3 is still missing
        tailer.ack(got[i].file_id, got[i].end_offset)
    tailer.flush_checkpoints()
    crash(tailer)

    again = make_tailer(str(log), tmp_path / "state")
    c = Collector(again)
    c.until(lambda: len(c.lines) == 7)
    c.settle(0.1)
    again.close()
    assert seqs(c.lines) == [3, 4, 5, 6, 7, 8, 9]  # from the gap on: nothing missing


def test_checkpoint_is_written_periodically_without_close(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(b"")
    tailer = make_tailer(str(log), tmp_path / "state")
    c = Collector(tailer)
    append(log, lines(0, 4))
    c.until(lambda: len(c.lines) == 4)
    c.settle(0.15)  # acked in step(); flush_interval is 0.05 s
    state = json.loads((tmp_path / "state" / STATE_FILE).read_text())
    crash(tailer)
    assert state["files"][0]["offset"] == log.stat().st_size
    assert state["files"][0]["path"] == str(log)


def test_inode_reuse_with_other_content_does_not_resume_at_the_old_offset(tmp_path):
    """Same device + inode, other bytes (the old file is gone): start the file from 0."""
    log = tmp_path / "a.log"
    log.write_bytes(lines(0, 10))
    tailer = make_tailer(str(log), tmp_path / "state", from_beginning=True)
    c = Collector(tailer)
    c.until(lambda: len(c.lines) == 10)
    tailer.close()
    old_offset = log.stat().st_size
    # While we are down the inode gets other content, longer than the old offset.
    with open(log, "r+b") as fh:
        fh.truncate(0)
        fh.write(b"other " + lines(100, 130))
    assert log.stat().st_size > old_offset

    again = make_tailer(str(log), tmp_path / "state")
    c = Collector(again)
    c.until(lambda: len(c.lines) == 30)
    c.settle(0.1)
    again.close()
    assert c.lines[0].data == b"other " + seq_line(100)[:-1]
    assert seqs(c.lines[1:]) == list(range(101, 130))


def test_checkpoint_of_an_earlier_file_on_the_same_inode_is_dropped(tmp_path):
    """A deleted file's inode handed to a new file: the stored entry names this inode but
    fingerprints other bytes, so it must not be used (and is forgotten)."""
    log = tmp_path / "a.log"
    log.write_bytes(lines(0, 40))
    st = log.stat()
    store = CheckpointStore(tmp_path / "state")
    old = b"GET /previous-file-that-was-deleted " * 40
    store.put(Checkpoint("old", str(log), st.st_dev, st.st_ino, 1024, digest(old[:1024]), 900))
    store.save()
    store.close()

    tailer = make_tailer(str(log), tmp_path / "state")
    c = Collector(tailer)
    c.until(lambda: len(c.lines) == 40)
    tailer.close()
    assert seqs(c.lines) == list(range(40))
    assert "old" not in CheckpointStore(tmp_path / "state")


def test_file_rotated_while_down_is_finished_and_its_successor_read_whole(tmp_path):
    log = tmp_path / "access.log"
    log.write_bytes(lines(0, 10))
    tailer = make_tailer(str(log), tmp_path / "state", from_beginning=True)
    got = tailer.poll()
    for line in got[:4]:
        tailer.ack(line.file_id, line.end_offset)
    tailer.close()
    # Rotated while we were down: more lines in the old file, then a new file.
    append(log, lines(10, 12))
    os.rename(log, tmp_path / "access.log.1")
    log.write_bytes(lines(12, 15))

    again = make_tailer(str(log), tmp_path / "state")
    c = Collector(again)
    c.until(lambda: len(c.lines) == 11)
    c.settle(0.5)  # the old file is let go after close_rotated_after
    again.close()
    assert sorted(seqs(c.lines)) == list(range(4, 15))
    old = [
        n for n, line in zip(seqs(c.lines), c.lines, strict=True) if line.file_id == got[0].file_id
    ]
    assert old == list(range(4, 12))
    store = CheckpointStore(tmp_path / "state")
    finished = store.get(got[0].file_id)
    assert finished.closed and finished.offset == (tmp_path / "access.log.1").stat().st_size


def test_file_truncated_while_down_is_read_from_the_start(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(lines(0, 100))
    tailer = make_tailer(str(log), tmp_path / "state", from_beginning=True)
    c = Collector(tailer)
    c.until(lambda: len(c.lines) == 100)
    tailer.close()
    keep = len(lines(0, 80))
    assert keep > 1024  # the first bytes (the fingerprint) survive: only the size tells
    with open(log, "r+b") as fh:
        fh.truncate(keep)

    again = make_tailer(str(log), tmp_path / "state")
    c = Collector(again)
    append(log, lines(80, 82))
    c.until(lambda: len(c.lines) == 82)
    again.close()
    assert seqs(c.lines) == list(range(82))


def test_deleted_and_fully_read_files_are_forgotten(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_bytes(lines(0, 3))
    tailer = make_tailer(str(logs / "*.log"), tmp_path / "state", from_beginning=True)
    c = Collector(tailer)
    c.until(lambda: len(c.lines) == 3)
    os.unlink(logs / "a.log")
    c.settle(0.5)
    tailer.flush_checkpoints()
    assert len(tailer.store) == 0
    tailer.close()


def test_stale_checkpoints_are_forgotten_after_a_while(tmp_path):
    store = CheckpointStore(tmp_path / "state")
    store.put(Checkpoint("gone", str(tmp_path / "gone.log"), 1, 2, 0, "", 10))
    store.save()
    store.close()
    tailer = make_tailer(str(tmp_path / "*.log"), tmp_path / "state", forget_after=0.05)
    c = Collector(tailer)
    c.settle(0.2)
    tailer.close()
    assert "gone" not in CheckpointStore(tmp_path / "state")


def test_a_failing_checkpoint_disk_does_not_stop_reading(tmp_path, monkeypatch):
    log = tmp_path / "a.log"
    log.touch()
    tailer = make_tailer(str(log), tmp_path / "state")
    c = Collector(tailer)
    real_write = tailer.store.write

    def full(data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tailer.store, "write", full)
    append(log, lines(0, 5))
    c.until(lambda: len(c.lines) == 5)
    c.settle(0.15)  # several periodic flushes fail: logged, not raised
    monkeypatch.setattr(tailer.store, "write", real_write)
    c.settle(0.15)
    state = json.loads((tmp_path / "state" / STATE_FILE).read_text())
    crash(tailer)
    assert state["files"][0]["offset"] == log.stat().st_size

"""copytruncate with the copy under the followed glob: the copy continues the original."""

from __future__ import annotations

import gzip
import logging
import os
import shutil
import time

import pytest

from tests.support.tailkit import (
    Collector,
    assert_exactly_once_in_order,
    make_tailer,
    seq_line,
    seqs,
)


def lines(a: int, b: int) -> bytes:
    return b"".join(seq_line(n) for n in range(a, b))


def append(path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


def copytruncate(log, n: int = 1) -> None:
    shutil.copyfile(log, log.with_name(f"{log.name}.{n}"))
    os.truncate(log, 0)


def follow_copytruncate(tmp_path, rescan_interval: float, pause: float, caplog=None):
    log = tmp_path / "access.log"
    log.write_bytes(lines(0, 100))
    assert log.stat().st_size > 1024  # the fingerprint is complete
    tailer = make_tailer(
        str(tmp_path / "access.log*"),
        tmp_path / "state",
        from_beginning=True,
        rescan_interval=rescan_interval,
    )
    c = Collector(tailer)
    c.until(lambda: len(c.lines) == 100)
    append(log, lines(100, 150))  # not read yet when logrotate runs
    copytruncate(log)
    append(log, lines(150, 160))
    time.sleep(pause)
    c.until(lambda: len(c.lines) >= 160)
    c.settle(0.3)
    if caplog is not None:  # logrotate compresses the copy at its next run
        copy = log.with_name("access.log.1")
        log.with_name("access.log.1.gz").write_bytes(gzip.compress(copy.read_bytes()))
        copy.unlink()
        c.settle(0.5)
    tailer.close()
    assert_exactly_once_in_order(c.lines, 160)
    first = c.lines[0].file_id
    from_copy = [line for line in c.lines if line.path.endswith(".1")]
    assert seqs(from_copy) == list(range(100, 150))
    assert {line.file_id for line in from_copy} == {first}  # the same file, continued
    return c


def test_copy_seen_before_the_truncation_continues_the_file(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    follow_copytruncate(tmp_path, rescan_interval=0.05, pause=0.1, caplog=caplog)  # rescan first
    said_calmly(caplog, tmp_path, copy_followed=True)


def test_copy_seen_after_the_truncation_continues_the_file(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    follow_copytruncate(tmp_path, rescan_interval=0.4, pause=0.0, caplog=caplog)  # truncation first
    said_calmly(caplog, tmp_path, copy_followed=False)  # the copy was read and closed before


def said_calmly(caplog, tmp_path, copy_followed: bool) -> None:
    """A copytruncate handled is INFO, and its copy is called a copy, not a rotated file."""
    tail = [r for r in caplog.records if r.name == "logpipe.tail"]
    assert [r.getMessage() for r in tail if r.levelno >= logging.WARNING] == []
    messages = [r.getMessage() for r in tail]
    log = tmp_path / "access.log"
    assert (
        f"file {log} was copied and truncated; its lines continue in the copy, "
        "and it is read from the start" in messages
    )
    moved = f"copy {log}.1 of {log} moved on (compressed or rotated); reading it to its end"
    assert (moved in messages) is copy_followed
    assert not any("rotated away or removed" in m for m in messages)


def test_copy_checkpoint_resumes_in_the_copy_after_restart(tmp_path):
    log = tmp_path / "access.log"
    log.write_bytes(lines(0, 100))
    pattern = str(tmp_path / "access.log*")
    tailer = make_tailer(pattern, tmp_path / "state", from_beginning=True)
    c = Collector(tailer)
    c.until(lambda: len(c.lines) == 100)
    append(log, lines(100, 150))
    copytruncate(log)
    time.sleep(0.1)
    got = []
    deadline = time.monotonic() + 5
    while len(got) < 50:  # read the copy's 50 lines but acknowledge only 20
        assert time.monotonic() < deadline
        got += tailer.poll()
        tailer.wait(0.02)
    for line in got[:20]:
        tailer.ack(line.file_id, line.end_offset)
    tailer.close()

    again = make_tailer(pattern, tmp_path / "state")
    c = Collector(again)
    c.until(lambda: len(c.lines) == 30)
    c.settle(0.2)
    again.close()
    assert seqs(c.lines) == list(range(120, 150))


def test_a_file_that_only_starts_like_another_is_read_whole(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(lines(0, 100))
    tailer = make_tailer(str(tmp_path / "*.log"), tmp_path / "state", copy_wait=0.2)
    c = Collector(tailer)
    c.settle(0.1)
    other = tmp_path / "b.log"  # same first kilobyte, then its own lines
    other.write_bytes(lines(0, 100) + b"seq=999999 b\n")
    started = time.monotonic()
    c.until(lambda: len(c.lines) == 101)
    held = time.monotonic() - started
    tailer.close()
    assert 0.15 < held < 2
    assert [line.path for line in c.lines] == [str(other)] * 101


def test_a_copy_without_the_bytes_we_last_read_is_not_taken_for_one(tmp_path):
    """Same first bytes as a truncated file, but other bytes where we stopped: a new file."""
    log = tmp_path / "access.log"
    log.write_bytes(lines(0, 100))
    tailer = make_tailer(str(tmp_path / "access.log*"), tmp_path / "state", from_beginning=True)
    c = Collector(tailer)
    c.until(lambda: len(c.lines) == 100)
    os.truncate(log, 0)
    c.step()  # truncation noticed, no copy yet
    (tmp_path / "access.log.1").write_bytes(lines(0, 90) + b"seq=000500 x\n" * 20)
    c.until(lambda: len(c.lines) == 210)
    tailer.close()
    assert [line.path for line in c.lines[100:]] == [str(tmp_path / "access.log.1")] * 110


def test_a_plain_copy_is_not_read_again(tmp_path):
    """logrotate ``copy`` (or ``cp``) under the glob, no truncation: its lines were read in
    the original; the copy is followed from its end."""
    log = tmp_path / "access.log"
    log.write_bytes(lines(0, 100))
    tailer = make_tailer(
        str(tmp_path / "access.log*"), tmp_path / "state", from_beginning=True, copy_wait=0.2
    )
    c = Collector(tailer)
    c.until(lambda: len(c.lines) == 100)
    shutil.copyfile(log, tmp_path / "access.log.1")
    append(log, lines(100, 110))
    c.until(lambda: len(c.lines) >= 110)
    c.settle(0.35)  # past copy_wait: the copy is let go
    append(tmp_path / "access.log.1", lines(110, 112))  # were it written to, that is new
    c.until(lambda: len(c.lines) >= 112)
    c.settle(0.2)
    tailer.close()
    assert_exactly_once_in_order(c.lines, 112)
    assert [line.path for line in c.lines[110:]] == [str(tmp_path / "access.log.1")] * 2


# -- the copy found late: after a restart, or after a pause in reading ------------------------


def read_and_ack(tailer, total: int, acked: int) -> list:
    """Read ``total`` lines, acknowledge only the first ``acked`` (the rest stay in flight)."""
    got: list = []
    deadline = time.monotonic() + 5
    while len(got) < total:
        assert time.monotonic() < deadline, f"timed out with {len(got)} lines"
        got += tailer.poll()
        tailer.wait(0.02)
    assert len(got) == total
    for line in got[:acked]:
        tailer.ack(line.file_id, line.end_offset)
    tailer.flush_checkpoints()
    return got


def assert_once_each(lines_seen, first: int, end: int) -> None:
    numbers = seqs(lines_seen)
    assert sorted(numbers) == list(range(first, end)), (
        f"missing {sorted(set(range(first, end)) - set(numbers))[:10]}, "
        f"{len(numbers) - len(set(numbers))} duplicates, "
        f"extra {sorted(set(numbers) - set(range(first, end)))[:10]}"
    )


@pytest.mark.parametrize("from_beginning", [True, False])
def test_copytruncate_while_down_resumes_in_the_copy_at_the_checkpoint(tmp_path, from_beginning):
    """Stopped (lines read but not acknowledged), then copytruncate with the copy under the
    glob: the copy is the checkpoint's file and resumes at its offset; nothing acknowledged
    is sent again, nothing is lost."""
    log = tmp_path / "access.log"
    log.write_bytes(lines(0, 100))
    pattern = str(tmp_path / "access.log*")
    tailer = make_tailer(pattern, tmp_path / "state", from_beginning=True)
    first = read_and_ack(tailer, 100, acked=80)
    tailer.close()  # 80..99 were never acknowledged
    append(log, lines(100, 150))  # written while we were down
    copytruncate(log, 2)
    append(log, lines(150, 220))  # the new generation, longer than the fingerprint
    assert log.stat().st_size > 1024

    again = make_tailer(pattern, tmp_path / "state", from_beginning=from_beginning)
    c = Collector(again)
    c.until(lambda: len(c.lines) >= 140)
    c.settle(0.3)
    again.close()
    assert_once_each(c.lines, 80, 220)
    from_copy = [line for line in c.lines if line.path.endswith(".2")]
    assert seqs(from_copy) == list(range(80, 150))
    assert {line.file_id for line in from_copy} == {first[0].file_id}


def test_copytruncate_noticed_late_continues_in_the_copy(tmp_path):
    """No poll between copytruncate and the next one (the shipper waits for Kafka): the
    copy continues the truncated file where it was read; the lines read but not
    acknowledged come again from the copy after a restart."""
    log = tmp_path / "access.log"
    log.write_bytes(lines(0, 100))
    pattern = str(tmp_path / "access.log*")
    tailer = make_tailer(pattern, tmp_path / "state", from_beginning=True)
    first = read_and_ack(tailer, 100, acked=80)
    append(log, lines(100, 150))  # not read yet when logrotate runs
    copytruncate(log, 2)
    append(log, lines(150, 220))
    time.sleep(0.3)  # several rescans and flushes are due by the next poll
    c = Collector(tailer)
    c.until(lambda: len(c.lines) >= 120)
    c.settle(0.3)
    assert_once_each(c.lines, 100, 220)
    from_copy = [line for line in c.lines if line.path.endswith(".2")]
    assert seqs(from_copy) == list(range(100, 150))
    assert {line.file_id for line in from_copy} == {first[0].file_id}
    tailer.close()  # 80..99 are still unacknowledged (lost in the producer, say)

    # The checkpoint stays before 80 (acknowledgements count only without a gap), so
    # 80..149 come again, from the copy; the new file's lines are not sent again.
    again = make_tailer(pattern, tmp_path / "state")
    c = Collector(again)
    c.until(lambda: len(c.lines) >= 70)
    c.settle(0.3)
    again.close()
    assert seqs(c.lines) == list(range(80, 150))
    assert {line.path for line in c.lines} == {str(tmp_path / "access.log.2")}


def test_copytruncate_noticed_late_with_unacknowledged_lines_acknowledged_later(tmp_path):
    """The lines in flight at the truncation are acknowledged after the copy took over:
    the checkpoint moves over them, and a restart sends nothing again."""
    log = tmp_path / "access.log"
    log.write_bytes(lines(0, 100))
    pattern = str(tmp_path / "access.log*")
    tailer = make_tailer(pattern, tmp_path / "state", from_beginning=True)
    first = read_and_ack(tailer, 100, acked=80)
    append(log, lines(100, 150))
    copytruncate(log, 2)
    append(log, lines(150, 220))
    time.sleep(0.3)
    c = Collector(tailer)
    c.until(lambda: len(c.lines) >= 120)
    for line in first[80:]:
        tailer.ack(line.file_id, line.end_offset)
    c.settle(0.3)
    tailer.close()
    assert_once_each(first + c.lines, 0, 220)

    again = make_tailer(pattern, tmp_path / "state")
    c = Collector(again)
    append(log, lines(220, 225))
    c.until(lambda: len(c.lines) >= 5)
    c.settle(0.3)
    again.close()
    assert seqs(c.lines) == list(range(220, 225))


def test_a_look_alike_found_after_a_restart_is_not_resumed_at_the_offset(tmp_path):
    """Same first kilobyte as a file truncated while we were down, other bytes before the
    checkpoint's offset: not its copy, so it is read whole."""
    log = tmp_path / "access.log"
    log.write_bytes(lines(0, 100))
    pattern = str(tmp_path / "access.log*")
    tailer = make_tailer(pattern, tmp_path / "state", from_beginning=True)
    read_and_ack(tailer, 100, acked=80)
    tailer.close()
    os.truncate(log, 0)
    append(log, lines(150, 220))
    look_alike = lines(0, 70) + b"".join(b"seq=%06d x\n" % n for n in range(500, 540))
    assert look_alike[:1024] == lines(0, 100)[:1024]
    (tmp_path / "access.log.2").write_bytes(look_alike)

    again = make_tailer(pattern, tmp_path / "state", from_beginning=True)
    c = Collector(again)
    c.until(lambda: len(c.lines) >= 180)
    c.settle(0.3)
    again.close()
    from_copy = [line for line in c.lines if line.path.endswith(".2")]
    assert seqs(from_copy) == list(range(70)) + list(range(500, 540))

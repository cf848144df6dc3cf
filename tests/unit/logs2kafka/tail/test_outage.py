"""Rotations while no lines are taken (Kafka down: the pending bound full) or the daemon down.

The shipped defaults follow a plain path (``/var/log/apache2/access.log``), so rotated
generations are not matched by it: the tailer must hold what it found meanwhile, look
next to the path for what it did not, and count what is gone for good.
"""

from __future__ import annotations

import gzip
import os
import shutil
import time
from pathlib import Path

from tests.support.tailkit import Collector, make_tailer, seq_line, seqs


def lines(a: int, b: int) -> bytes:
    return b"".join(seq_line(n) for n in range(a, b))


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


def paused(tailer, seconds: float = 0.2) -> None:
    """What logs2kafka does while ``room() == 0``: no poll, only ``maintain``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        tailer.maintain()
        time.sleep(0.01)


def gzip_away(path: Path, target: Path) -> None:
    """logrotate ``compress``: the generation compressed, the uncompressed file removed."""
    with open(path, "rb") as src, gzip.open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(path)


def rotate(log: Path) -> None:
    """Debian's default: ``access.log.N.gz`` shifted to ``.N+1.gz``, ``access.log.1``
    compressed to ``.2.gz`` (delaycompress), the log renamed to ``access.log.1``, a new
    empty log created."""
    older = sorted(log.parent.glob(log.name + ".*.gz"), key=lambda p: -int(p.name.split(".")[-2]))
    for path in older:
        n = int(path.name.split(".")[-2])
        os.rename(path, log.with_name(f"{log.name}.{n + 1}.gz"))
    first = log.with_name(log.name + ".1")
    if first.exists():
        gzip_away(first, log.with_name(log.name + ".2.gz"))
    os.rename(log, first)
    log.touch()


def next_start_reads_only(log: Path, state: Path, seq: int, **options: object) -> None:
    """Start again and append line ``seq``: it is the only line read (nothing twice)."""
    tailer = make_tailer(str(log), state, **options)
    c = Collector(tailer)
    append(log, lines(seq, seq + 1))
    c.until(lambda: len(c.lines) == 1)
    c.settle(0.4)
    tailer.close()
    assert seqs(c.lines) == [seq]
    assert tailer.lost_bytes == 0


def unread(tailer) -> list[tuple[bool, int]]:
    """(still under the path?, bytes not read yet) of each open file, oldest first."""
    return [(s.current, s.bytes_unread) for s in tailer.files()]


def test_two_rename_rotations_while_paused_lose_nothing(tmp_path):
    log = tmp_path / "logs" / "access.log"
    log.parent.mkdir()
    log.write_bytes(lines(0, 100))
    tailer = make_tailer(str(log), tmp_path / "state", from_beginning=True)
    c = Collector(tailer)
    c.until(lambda: len(c.lines) == 100)

    append(log, lines(100, 200))  # Kafka is down from here: nothing is read
    paused(tailer)
    rotate(log)
    append(log, lines(200, 300))
    paused(tailer)
    assert unread(tailer) == [(False, len(lines(100, 200))), (True, len(lines(200, 300)))]
    rotate(log)  # the first file is now only access.log.2.gz (and our descriptor)
    append(log, lines(300, 400))
    paused(tailer)
    assert sorted(os.listdir(log.parent)) == ["access.log", "access.log.1", "access.log.2.gz"]
    assert [n for _current, n in unread(tailer)] == [
        len(lines(100, 200)),
        len(lines(200, 300)),
        len(lines(300, 400)),
    ]

    c.until(lambda: len(c.lines) == 400)  # Kafka is back
    c.settle(0.4)
    tailer.close()
    assert seqs(c.lines) == list(range(400))  # every line once, the oldest file first
    assert tailer.lost_bytes == 0


def test_rename_and_compress_while_down_is_read_from_the_gz(tmp_path):
    log = tmp_path / "logs" / "access.log"
    log.parent.mkdir()
    log.write_bytes(lines(0, 100))
    tailer = make_tailer(str(log), tmp_path / "state", from_beginning=True)
    got = tailer.poll()
    for line in got[:50]:  # Kafka acknowledged half of them, then the daemon stopped
        tailer.ack(line.file_id, line.end_offset)
    tailer.close()

    append(log, lines(100, 150))
    os.rename(log, log.with_name("access.log.1"))  # logrotate ``compress``, no delay
    gzip_away(log.with_name("access.log.1"), log.with_name("access.log.1.gz"))
    log.write_bytes(lines(150, 200))

    again = make_tailer(str(log), tmp_path / "state")
    c = Collector(again)
    c.until(lambda: len(c.lines) == 150)
    c.settle(0.4)
    assert again.lost_bytes == 0
    again.close()
    assert seqs(c.lines) == list(range(50, 200))
    assert {line.path for line in c.lines[:100]} == {str(log) + ".1.gz"}

    # Finished: the next start reads nothing again.
    next_start_reads_only(log, tmp_path / "state", 200)


def test_copytruncate_while_paused_loses_only_what_the_rotation_loses(tmp_path):
    log = tmp_path / "logs" / "access.log"
    log.parent.mkdir()
    log.write_bytes(lines(0, 100))
    tailer = make_tailer(str(log), tmp_path / "state", from_beginning=True)
    c = Collector(tailer)
    c.until(lambda: len(c.lines) == 100)

    append(log, lines(100, 200))  # Kafka is down from here
    paused(tailer)
    shutil.copyfile(log, log.with_name("access.log.1"))
    append(log, lines(200, 210))  # between the copy and the truncation: in neither file
    paused(tailer)
    os.truncate(log, 0)
    append(log, lines(210, 300))
    paused(tailer)
    gzip_away(log.with_name("access.log.1"), log.with_name("access.log.1.gz"))  # held
    paused(tailer)
    assert tailer.lost_bytes == len(lines(200, 210))

    c.until(lambda: len(c.lines) == 290)
    c.settle(0.4)
    tailer.close()
    assert seqs(c.lines) == list(range(0, 200)) + list(range(210, 300))
    assert tailer.lost_bytes == len(lines(200, 210))


def test_a_file_gone_while_down_is_counted_as_lost(tmp_path):
    log = tmp_path / "logs" / "access.log"
    log.parent.mkdir()
    log.write_bytes(lines(0, 100))
    tailer = make_tailer(str(log), tmp_path / "state", from_beginning=True)
    got = tailer.poll()
    for line in got[:40]:
        tailer.ack(line.file_id, line.end_offset)
    tailer.close()

    os.unlink(log)  # rotated and removed (``rotate 0``) while the daemon was down
    log.write_bytes(lines(500, 510))
    again = make_tailer(str(log), tmp_path / "state")
    c = Collector(again)
    c.until(lambda: len(c.lines) == 10)
    assert again.lost_bytes == len(lines(40, 100))
    again.close()
    third = make_tailer(str(log), tmp_path / "state")  # counted once
    assert third.lost_bytes == 0
    third.close()


def test_files_created_and_rotated_away_while_down_are_read_in_order(tmp_path):
    """Three Debian rotations during one stop: the checkpointed file ends as
    ``access.log.3.gz``, the two created after it as ``access.log.2.gz`` and
    ``access.log.1``; all are read, oldest first, before the current file, and once."""
    log = tmp_path / "logs" / "access.log"
    log.parent.mkdir()
    log.write_bytes(lines(0, 100))
    tailer = make_tailer(str(log), tmp_path / "state", from_beginning=True)
    got = tailer.poll()
    for line in got[:60]:  # acknowledged before the stop
        tailer.ack(line.file_id, line.end_offset)
    tailer.close()

    append(log, lines(100, 120))
    for n in range(3):  # each generation gets lines of its own, then is rotated away
        rotate(log)
        append(log, lines(200 + 100 * n, 300 + 100 * n))
    assert sorted(os.listdir(log.parent)) == [
        "access.log",
        "access.log.1",
        "access.log.2.gz",
        "access.log.3.gz",
    ]

    again = make_tailer(str(log), tmp_path / "state")
    c = Collector(again)
    want = list(range(60, 120)) + list(range(200, 500))
    c.until(lambda: len(c.lines) == len(want))
    c.settle(0.4)
    assert again.lost_bytes == 0
    again.close()
    assert seqs(c.lines) == want  # every line once, the oldest file first
    assert [line.path for line in c.lines[::100]] == [
        str(log) + ".3.gz",
        str(log) + ".2.gz",
        str(log) + ".1",
        str(log),
    ]

    # Each got a checkpoint: the next start reads none of them again.
    next_start_reads_only(log, tmp_path / "state", 500)


def test_restart_before_the_recovered_files_are_closed_reads_nothing_twice(tmp_path):
    """Stopped again while the generations read at start are still open (their entries
    not closed yet): the next start finds each by its own checkpoint, nothing is sent
    again, and a generation older than the checkpointed file is never read."""
    log = tmp_path / "logs" / "access.log"
    log.parent.mkdir()
    log.write_bytes(lines(0, 50))
    rotate(log)  # an older generation, never followed: must stay unread
    rotate(log)
    log.write_bytes(lines(100, 150))
    tailer = make_tailer(str(log), tmp_path / "state", from_beginning=True)
    c = Collector(tailer)
    c.until(lambda: len(c.lines) == 50)
    c.settle(0.1)
    tailer.close()
    assert seqs(c.lines) == list(range(100, 150))

    for n in range(3):
        rotate(log)
        append(log, lines(200 + 100 * n, 250 + 100 * n))
    again = make_tailer(str(log), tmp_path / "state", close_rotated_after=60.0)
    c = Collector(again)
    c.until(lambda: len(c.lines) == 150)
    c.settle(0.2)
    again.close()
    assert seqs(c.lines) == list(range(200, 250)) + list(range(300, 350)) + list(range(400, 450))

    next_start_reads_only(log, tmp_path / "state", 450, close_rotated_after=60.0)


def test_a_first_start_reads_no_rotated_generation(tmp_path):
    """Without a checkpoint nothing tells which generations are unread: only the live
    file is followed (from its end), as always."""
    log = tmp_path / "logs" / "access.log"
    log.parent.mkdir()
    log.write_bytes(lines(0, 10))
    rotate(log)
    append(log, lines(10, 20))
    rotate(log)
    append(log, lines(20, 30))
    next_start_reads_only(log, tmp_path / "state", 30)

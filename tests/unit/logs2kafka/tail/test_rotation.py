"""Every common rotation while a writer appends: each line exactly once, in order per file."""

from __future__ import annotations

import os
import shutil
import time

from tests.support.tailkit import (
    Collector,
    Writer,
    assert_exactly_once_in_order,
    make_tailer,
    seq_line,
)

TOTAL = 800


def run(tmp_path, rotate, rotate_at, total=TOTAL, patterns=None, **tailer_options):
    log = tmp_path / "logs" / "access.log"
    log.parent.mkdir()
    log.touch()
    tailer = make_tailer(patterns or [str(log)], tmp_path / "state", **tailer_options)
    collector = Collector(tailer)
    writer = Writer(log, total, rotate_at, lambda fh, n: rotate(log, fh, n, collector))
    writer.start()
    try:
        collector.until(lambda: not writer.is_alive() and len(collector.lines) >= total, 15)
        collector.settle(0.3)
    finally:
        writer.join(5)
        tailer.close()
    assert writer.error is None, writer.error
    assert_exactly_once_in_order(collector.lines, total)
    return collector


def test_rename_and_create_while_writer_still_uses_the_old_file(tmp_path):
    """logrotate ``create``: rename, new empty file; the server writes on to the old one
    for a while (until its graceful restart), then reopens."""
    state = {"old": None, "rotations": 0}

    def rotate(log, fh, n, collector):
        if n % 200 == 0:  # rename, create the new file, keep writing to the old one
            state["rotations"] += 1
            os.rename(log, log.with_name(f"access.log.{state['rotations']}"))
            log.touch()
            return fh
        fh.close()  # n % 200 == 100: the server reopens its log
        return open(log, "ab", buffering=0)

    collector = run(tmp_path, rotate, [200, 300, 400, 500, 600, 700])
    assert len({line.file_id for line in collector.lines}) == 4
    # The old files' lines written after the rename were read from the old file.
    first_file = collector.lines[0].file_id
    assert sum(line.file_id == first_file for line in collector.lines) == 300


def test_rotated_name_still_matching_the_glob_is_not_read_twice(tmp_path):
    """``access.log*`` also matches ``access.log.1``: the renamed file is the same file."""

    def rotate(log, fh, n, collector):
        os.rename(log, log.with_name(f"access.log.{n}"))
        fh.close()
        return open(log, "ab", buffering=0)

    patterns = [str(tmp_path / "logs" / "access.log*")]
    collector = run(tmp_path, rotate, [300, 600], patterns=patterns)
    paths = {line.path for line in collector.lines}
    assert str(tmp_path / "logs" / "access.log") in paths


def test_copytruncate(tmp_path):
    """logrotate ``copytruncate``: copy, then truncate the file in place; the writer keeps
    its descriptor (O_APPEND, so it writes at the new end).  Lines written between the copy
    and the truncation would be lost for any tailer; the writer waits for the tailer to
    catch up first, as the inherent window of copytruncate is not what is tested here."""

    def rotate(log, fh, n, collector):
        deadline = time.monotonic() + 5
        while len(collector.lines) < n:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        shutil.copyfile(log, log.with_name(f"access.log.{n}"))
        os.truncate(log, 0)
        return fh

    collector = run(tmp_path, rotate, [300, 600])
    assert len({line.file_id for line in collector.lines}) == 3


def test_copytruncate_with_the_copy_under_the_glob_loses_nothing(tmp_path):
    """Same rotation, but the tailer is behind when the file is truncated: the lines not
    read yet exist only in the copy, which matches ``access.log*`` and continues the file."""

    def rotate(log, fh, n, collector):
        if n % 400 == 200:
            collector.paused.set()  # fall behind: the next 100 lines are not read in time
            return fh
        shutil.copyfile(log, log.with_name(f"access.log.{n}"))
        os.truncate(log, 0)
        collector.paused.clear()
        return fh

    patterns = [str(tmp_path / "logs" / "access.log*")]
    collector = run(tmp_path, rotate, [200, 300, 600, 700], patterns=patterns)
    from_copies = [line for line in collector.lines if ".log." in line.path]
    assert len(from_copies) >= 150


def test_delete_and_recreate(tmp_path):
    def rotate(log, fh, n, collector):
        fh.close()
        os.unlink(log)
        return open(log, "ab", buffering=0)

    collector = run(tmp_path, rotate, [200, 400, 600])
    assert len({line.file_id for line in collector.lines}) == 4


def test_file_missing_for_a_while(tmp_path):
    """Deleted, absent longer than the rescan and the rotated-file grace, then back."""

    def rotate(log, fh, n, collector):
        fh.close()
        os.unlink(log)
        time.sleep(0.35)
        return open(log, "ab", buffering=0)

    run(tmp_path, rotate, [400], close_rotated_after=0.15)


def test_file_moved_away_and_back_resumes_where_it_was(tmp_path):
    """Same inode, same content: back under the glob, it continues; nothing is read twice."""

    def rotate(log, fh, n, collector):
        away = log.parent.parent / "away.log"
        os.rename(log, away)
        time.sleep(0.35)  # the tailer finishes it and lets it go
        os.rename(away, log)
        return fh

    collector = run(tmp_path, rotate, [400], close_rotated_after=0.15)
    assert len({line.file_id for line in collector.lines}) == 1


def test_truncated_and_regrown_between_two_polls_is_detected_by_fingerprint(tmp_path):
    log = tmp_path / "access.log"
    log.write_bytes(b"".join(seq_line(n) for n in range(20)))
    tailer = make_tailer(str(log), tmp_path / "state", from_beginning=True)
    collector = Collector(tailer)
    collector.until(lambda: len(collector.lines) == 20)
    # Rewritten in place, already longer than our offset when we look again.
    with open(log, "r+b") as fh:
        fh.truncate(0)
        fh.write(b"".join(seq_line(n) for n in range(20, 60)))
    collector.until(lambda: len(collector.lines) == 60)
    collector.settle(0.2)
    tailer.close()
    assert_exactly_once_in_order(collector.lines, 60)


def test_new_files_matching_the_glob_are_read_from_their_start(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.log").write_bytes(seq_line(0))
    tailer = make_tailer(str(logs / "*.log"), tmp_path / "state")  # a.log: start at its end
    collector = Collector(tailer)
    (logs / "b.log").write_bytes(seq_line(1) + seq_line(2))
    (logs / "c.txt").write_bytes(seq_line(9))  # not matched
    (logs / "d.log.gz").write_bytes(b"\x1f\x8b binary")  # compressed: never followed
    with open(logs / "a.log", "ab") as fh:
        fh.write(seq_line(3))
    collector.until(lambda: len(collector.lines) == 3)
    collector.settle(0.2)
    tailer.close()
    assert sorted(collector.data) == [seq_line(n)[:-1] for n in (1, 2, 3)]


def test_double_star_globs_reach_any_depth(tmp_path):
    deep = tmp_path / "logs" / "vhosts" / "www2"
    deep.mkdir(parents=True)
    tailer = make_tailer(str(tmp_path / "logs" / "**" / "*.log"), tmp_path / "state")
    collector = Collector(tailer)
    (deep / "access.log").write_bytes(seq_line(0))
    (tmp_path / "logs" / "top.log").write_bytes(seq_line(1))
    collector.until(lambda: len(collector.lines) == 2)
    tailer.close()
    assert sorted(collector.data) == [seq_line(0)[:-1], seq_line(1)[:-1]]

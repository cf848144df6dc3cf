"""Line handling: partial last lines, long lines, bounded reads, waiting without spinning."""

from __future__ import annotations

import os
import threading
import time

from tests.support.tailkit import Collector, make_tailer, seq_line, seqs


def append(path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


def only_file(tailer):
    (status,) = tailer.files()
    return status


def test_partial_line_waits_for_its_newline_in_the_current_file(tmp_path):
    log = tmp_path / "a.log"
    log.touch()
    tailer = make_tailer(str(log), tmp_path / "state", partial_line_timeout=0.05)
    c = Collector(tailer)
    append(log, b"first\nsecond hal")
    c.settle(0.3)  # far past the timeout: the file is current, the writer may finish it
    assert c.data == [b"first"]
    append(log, b"f\n")
    c.until(lambda: len(c.lines) == 2)
    tailer.close()
    assert c.data == [b"first", b"second half"]
    assert c.lines[1].end_offset == log.stat().st_size


def test_partial_line_at_the_end_of_a_rotated_file_is_shipped_after_the_timeout(tmp_path):
    log = tmp_path / "a.log"
    log.touch()
    tailer = make_tailer(str(log), tmp_path / "state", partial_line_timeout=0.3)
    c = Collector(tailer)
    append(log, b"complete\nno newline ever")
    c.until(lambda: len(c.lines) == 1)
    os.rename(log, tmp_path / "a.log.1")
    log.write_bytes(b"new file\n")
    c.until(lambda: len(c.lines) == 2)
    rotated_at = time.monotonic()
    c.until(lambda: len(c.lines) == 3)
    waited = time.monotonic() - rotated_at
    tailer.close()
    assert c.data == [b"complete", b"new file", b"no newline ever"]
    assert 0.2 < waited < 1.5
    assert c.lines[2].end_offset == (tmp_path / "a.log.1").stat().st_size
    assert not c.lines[2].truncated


def test_crlf_is_left_to_the_parser(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(b"windows\r\nunix\n")
    tailer = make_tailer(str(log), tmp_path / "state", from_beginning=True)
    got = tailer.poll()
    tailer.close()
    assert [line.data for line in got] == [b"windows\r", b"unix"]


def test_long_lines_are_cut_and_flagged_with_their_true_end(tmp_path):
    log = tmp_path / "a.log"
    long = b"x" * 1000
    exact = b"y" * 100
    content = b"short\n" + long + b"\n" + exact + b"\n" + b"z" * 101 + b"\nafter\n"
    log.write_bytes(content)
    # Small chunks so the long line spans many reads and must be dropped as it streams.
    tailer = make_tailer(
        str(log), tmp_path / "state", from_beginning=True, max_line_bytes=100, chunk_bytes=64
    )
    got = tailer.poll()
    status = only_file(tailer)
    tailer.close()
    assert [(line.data, line.truncated) for line in got] == [
        (b"short", False),
        (b"x" * 100, True),
        (exact, False),
        (b"z" * 100, True),
        (b"after", False),
    ]
    assert got[1].end_offset == len(b"short\n") + 1001
    assert got[-1].end_offset == len(content)
    assert status.buffered_bytes <= 100 + 64


def test_an_endless_line_never_grows_the_buffer(tmp_path):
    log = tmp_path / "a.log"
    log.touch()
    tailer = make_tailer(str(log), tmp_path / "state", max_line_bytes=1000, chunk_bytes=4096)
    with open(log, "ab") as fh:
        for _ in range(64):  # 4 MiB without a newline
            fh.write(b"a" * 65536)
    assert tailer.poll() == []
    status = only_file(tailer)
    assert status.read_offset == 4 * 1024 * 1024  # read (and dropped) as it came
    assert status.buffered_bytes <= 1000
    append(log, b"tail\nnext\n")
    got = tailer.poll()
    tailer.close()
    assert [(line.data, line.truncated) for line in got] == [(b"a" * 1000, True), (b"next", False)]
    assert got[0].end_offset == 4 * 1024 * 1024 + 5


def test_poll_reads_only_what_it_returns(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(b"".join(seq_line(n) for n in range(20000)))
    size = log.stat().st_size
    tailer = make_tailer(str(log), tmp_path / "state", from_beginning=True, chunk_bytes=4096)
    got = tailer.poll(max_lines=100)
    status = only_file(tailer)
    assert seqs(got) == list(range(100))
    assert status.read_offset <= got[-1].end_offset + 4096  # at most one chunk ahead
    assert status.buffered_bytes <= 4096
    c = Collector(tailer)
    c.lines = got
    c.until(lambda: len(c.lines) == 20000)
    tailer.close()
    assert seqs(c.lines) == list(range(20000))
    assert c.lines[-1].end_offset == size


def test_several_files_are_all_served(tmp_path):
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.log").write_bytes(b"".join(seq_line(n) for n in range(3000)))
    tailer = make_tailer(str(tmp_path / "*.log"), tmp_path / "state", from_beginning=True)
    first = tailer.poll(max_lines=1000)
    second = tailer.poll(max_lines=1000)
    tailer.close()
    assert len(first) == len(second) == 1000
    assert {line.path for line in first} != {line.path for line in second}  # round robin


def test_wait_sleeps_until_data_arrives(tmp_path):
    log = tmp_path / "a.log"
    log.touch()
    tailer = make_tailer(str(log), tmp_path / "state", rescan_interval=10.0)
    tailer.poll()
    started = time.monotonic()
    assert tailer.wait(0.15) is False
    assert time.monotonic() - started >= 0.14
    timer = threading.Timer(0.1, append, (log, b"hello\n"))
    timer.start()
    started = time.monotonic()
    assert tailer.wait(2.0) is True
    assert time.monotonic() - started < 0.5
    assert [line.data for line in tailer.poll()] == [b"hello"]
    threading.Timer(0.05, tailer.wakeup).start()
    started = time.monotonic()
    assert tailer.wait(2.0) is True
    assert time.monotonic() - started < 0.5
    tailer.close()


def test_idle_tailer_uses_little_cpu(tmp_path):
    log = tmp_path / "a.log"
    log.touch()
    tailer = make_tailer(str(log), tmp_path / "state", wait_interval=0.1, rescan_interval=1.0)
    cpu = time.process_time()
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        if not tailer.poll():
            tailer.wait(0.2)
    used = time.process_time() - cpu
    tailer.close()
    assert used < 0.05


def test_file_status_reports_bytes_behind(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(b"one\ntwo\n")
    tailer = make_tailer(str(log), tmp_path / "state", from_beginning=True)
    got = tailer.poll()
    tailer.ack(got[0].file_id, got[0].end_offset)
    (status,) = tailer.files()
    tailer.close()
    assert status.path == str(log) and status.current
    assert (status.size, status.read_offset, status.committed_offset) == (8, 8, 4)
    assert status.pending_lines == 1 and status.bytes_behind == 4

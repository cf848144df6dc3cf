"""The log writer's rotations do what logrotate does, and every line stays traceable."""

from __future__ import annotations

import gzip
from pathlib import Path

from logpipe_testkit.traffic import LogWriter, sequence_of

LINE = b'1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /a HTTP/1.0" 200 2326 "-" "-"'


def sequences(data: bytes, run: str = "t") -> list[int]:
    found = (sequence_of(line.decode("utf-8", "replace"), run) for line in data.splitlines())
    return [seq for seq in found if seq is not None]


def write(writer: LogWriter, count: int) -> None:
    with writer._lock:
        for _ in range(count):
            writer._write_one()


def test_logrotate_shifts_and_compresses_like_debian(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    writer = LogWriter(log, [LINE], "t", rate=1000)
    write(writer, 3)
    writer.rotate_logrotate(compress=True)  # delaycompress: nothing to compress yet
    write(writer, 2)
    writer.rotate_logrotate(compress=True)
    write(writer, 1)
    writer.stop()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["access.log", "access.log.1", "access.log.2.gz"]
    assert sequences(gzip.decompress((tmp_path / "access.log.2.gz").read_bytes())) == [0, 1, 2]
    assert sequences((tmp_path / "access.log.1").read_bytes()) == [3, 4]
    assert sequences(log.read_bytes()) == [5]


def test_logrotate_without_delay_compresses_the_file_just_rotated(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    writer = LogWriter(log, [LINE], "t", rate=1000)
    write(writer, 2)
    writer.rotate_logrotate(compress=True, delaycompress=False)
    write(writer, 1)
    writer.rotate_logrotate(compress=True, delaycompress=False)
    writer.stop()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "access.log",
        "access.log.1.gz",
        "access.log.2.gz",
    ]
    assert sequences(gzip.decompress((tmp_path / "access.log.2.gz").read_bytes())) == [0, 1]
    assert sequences(gzip.decompress((tmp_path / "access.log.1.gz").read_bytes())) == [2]


def test_copytruncate_lists_the_lines_it_loses(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    writer = LogWriter(log, [LINE], "t", rate=1000)
    write(writer, 3)
    copy = writer.rotate_copytruncate(lose=2)
    write(writer, 1)
    writer.stop()
    assert sequences(copy.read_bytes()) == [0, 1, 2]
    assert writer.lost_in_rotation == [3, 4]
    assert sequences(log.read_bytes()) == [5]
    assert sorted(writer.appended) == [0, 1, 2, 3, 4, 5]


def test_suffix_follows_the_stamp(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    writer = LogWriter(log, [LINE], "t", rate=1000, suffix=lambda seq: b"\x00" * seq)
    write(writer, 3)
    writer.stop()
    lines = log.read_bytes().split(b"\n")
    assert [line.count(b"\x00") for line in lines[:3]] == [0, 1, 2]
    assert sequences(log.read_bytes()) == [0, 1, 2]

"""Naming rules for a log's rotated generations: which were made after which."""

from __future__ import annotations

from pathlib import Path

from logpipe.logs2kafka.tail import siblings


def names(paths: list[str]) -> list[str]:
    return [Path(p).name for p in paths]


def test_newer_numbered_generations_oldest_first(tmp_path: Path) -> None:
    for name in ["access.log.1", "access.log.2.gz", "access.log.3.gz", "access.log.10.xz"]:
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "access.log-20250101").write_bytes(b"")  # another naming: not compared
    (tmp_path / "other.log.1").write_bytes(b"")  # another log
    log = str(tmp_path / "access.log")
    assert names(siblings.newer(str(tmp_path / "access.log.3.gz"), log)) == [
        "access.log.2.gz",
        "access.log.1",
    ]
    assert names(siblings.newer(str(tmp_path / "access.log.10.xz"), log)) == [
        "access.log.3.gz",
        "access.log.2.gz",
        "access.log.1",
    ]
    assert siblings.newer(str(tmp_path / "access.log.1"), log) == []
    assert siblings.newer(str(tmp_path / "other.log.1"), log) == []


def test_newer_dated_generations_oldest_first(tmp_path: Path) -> None:
    for name in ["access.log-20250101.gz", "access.log-20250102.gz", "access.log-20250103"]:
        (tmp_path / name).write_bytes(b"")
    log = str(tmp_path / "access.log")
    assert names(siblings.newer(str(tmp_path / "access.log-20250101.gz"), log)) == [
        "access.log-20250102.gz",
        "access.log-20250103",
    ]
    assert siblings.newer(str(tmp_path / "access.log-20250103"), log) == []


def test_reading_order_puts_older_generations_first() -> None:
    paths = ["/l/access.log.1", "/l/access.log.3.gz", "/l/moved.log", "/l/access.log.2.gz"]
    paths.sort(key=siblings.reading_order)
    assert paths == ["/l/access.log.3.gz", "/l/access.log.2.gz", "/l/access.log.1", "/l/moved.log"]

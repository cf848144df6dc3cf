"""Rotations faster than the tailer looks: generations that lived and moved on between two
rescans (or two reads) are read whole, once, in the order they were written.

The tailer is polled only between the rotations here, so every rotation below happens
"between two looks", whatever the rescan interval: the same as logrotate run twice
within a second (``size``-triggered rotation of a busy log, or a forced rotation right
after a scheduled one).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from tests.support.tailkit import (
    Collector,
    logrotate_compress,
    logrotate_copy,
    logrotate_rename,
    make_tailer,
    seq_line,
    seqs,
)

#: How logrotate compresses: not at all, the new generation 1 at once, or generation 2
#: (``delaycompress``).
COMPRESS = {"plain": None, "compress": 1, "delaycompress": 2}

OLD = 900_000  # sequence numbers of lines rotated away before the tailer started


def write(log: Path, first: int, last: int) -> None:
    with open(log, "ab") as fh:
        fh.write(b"".join(seq_line(n) for n in range(first, last)))


def start(tmp_path: Path, rescan_interval: float = 0.05) -> tuple[Path, Collector]:
    """A log with two older generations from before the tailer started (never to be
    read), followed from its end."""
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "access.log"
    (logs / "access.log.1").write_bytes(b"".join(seq_line(OLD + n) for n in range(10)))
    with gzip.open(logs / "access.log.2.gz", "wb") as fh:
        fh.write(b"".join(seq_line(OLD + n) for n in range(10, 20)))
    log.touch()
    tailer = make_tailer([str(log)], tmp_path / "state", rescan_interval=rescan_interval)
    return log, Collector(tailer)


def finish(collector: Collector, total: int) -> list[int]:
    collector.until(lambda: len(collector.lines) >= total, 10)
    collector.settle(0.3)
    collector.tailer.close()
    return seqs(collector.lines)


@pytest.mark.parametrize("compress", COMPRESS)
@pytest.mark.parametrize("rotations", [2, 3])
def test_renamed_generations_never_seen_at_the_path_are_read(
    tmp_path: Path, compress: str, rotations: int
) -> None:
    """logrotate ``create`` ``rotations`` times between two looks, the server reopening
    its log each time: the generations in between are read whole, after the rest of the
    followed one and before the current one; the older generations are not read."""
    log, collector = start(tmp_path)
    write(log, 0, 100)
    collector.until(lambda: len(collector.lines) == 100)
    collector.settle(0.2)  # followed for a while: its checkpoint written
    write(log, 100, 150)  # not read yet: the file is rotated away first
    n = 150
    for _ in range(rotations):
        logrotate_rename(log)
        if COMPRESS[compress] is not None:
            logrotate_compress(log, COMPRESS[compress])
        write(log, n, n + 100)
        n += 100
    assert finish(collector, n) == list(range(n))


@pytest.mark.parametrize("compress", COMPRESS)
@pytest.mark.parametrize("rescan", [0.05, 60.0], ids=["seen-at-a-rescan", "seen-reading"])
def test_copies_of_two_copytruncates_between_reads_are_both_read(
    tmp_path: Path, compress: str, rescan: float
) -> None:
    """``copytruncate`` twice before the tailer reads again: the older copy holds the
    followed file's unread rest, the newer one lines the tailer never saw anywhere.
    The truncation is noticed at a rescan, or (rescans far apart) by reading the file:
    either way the copies' lines come before the file's new ones."""
    log, collector = start(tmp_path, rescan)
    write(log, 0, 100)
    collector.until(lambda: len(collector.lines) == 100)
    collector.settle(0.2)  # followed for a while: its checkpoint written
    write(log, 100, 150)
    logrotate_copy(log)
    if COMPRESS[compress] is not None:
        logrotate_compress(log, COMPRESS[compress])
    write(log, 150, 250)
    logrotate_copy(log)
    if COMPRESS[compress] is not None:
        logrotate_compress(log, COMPRESS[compress])
    write(log, 250, 300)
    assert finish(collector, 300) == list(range(300))


def test_a_single_rotation_reads_nothing_else(tmp_path: Path) -> None:
    """One rotation between two looks: the followed file is finished, the new one read;
    no sibling (older generations) is read whole."""
    log, collector = start(tmp_path)
    write(log, 0, 50)
    collector.until(lambda: len(collector.lines) == 50)
    write(log, 50, 80)
    logrotate_rename(log)
    write(log, 80, 120)
    assert finish(collector, 120) == list(range(120))

"""logs2kafka tail through every common rotation while a writer appends.

Every line must arrive, once, in the order it was written.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import BinaryIO

import pytest

from tests.support.forwarder import (
    Daemon,
    TopicReader,
    access_line,
    assert_complete_in_order,
    duplicates,
    make_topic,
    tail_args,
)
from tests.support.tailkit import logrotate_rename

pytestmark = pytest.mark.integration

TOTAL = 1200
ROTATE_AT = (400, 800)
#: Lines a rotation writes itself (to the old file, and the file in between).
WRITTEN_BY_ROTATION = {"rename": 10, "rename-twice": 40}


def _rename(path: Path, f: BinaryIO, n: int) -> BinaryIO:
    """logrotate ``create``: generations shifted, the log renamed ``access.log.1`` and
    a new one made.  Apache keeps writing to the renamed file until it reopens its logs
    (lines ``n`` to ``n + 9`` here): the old file must be finished before the new one."""
    logrotate_rename(path)
    for extra in range(n, n + 10):
        f.write(access_line("w", extra))
    f.close()
    return open(path, "ab", buffering=0)


def _rotate(kind: str, path: Path, f: BinaryIO, n: int, reader: TopicReader) -> BinaryIO:
    if kind == "rename":
        return _rename(path, f, n)
    if kind == "rename-twice":
        # Rotated again 0.1 s later, faster than the daemon looks at the path (every
        # second): the file in between lives and moves on without being seen there.
        f = _rename(path, f, n)
        for extra in range(n + 10, n + 30):
            f.write(access_line("w", extra))
        time.sleep(0.1)
        return _rename(path, f, n + 30)
    if kind == "copytruncate":
        # Lines written between the copy and the truncation are lost by copytruncate's
        # design (logrotate says so); like logrotate's users, rotate when caught up.
        assert reader.wait_for(lambda e: len(e) >= n, 60), "daemon did not catch up"
        shutil.copyfile(path, path.with_name(f"{path.name}.{n}"))
        os.truncate(path, 0)
        return f  # O_APPEND: the next write lands at the new end, 0
    if kind in ("delete", "missing"):
        # A deleted file can only be finished if the daemon has it open: wait until it
        # read into this one; the last lines are then read from the deleted file.
        assert reader.wait_for(lambda e: len(e) >= n - 10, 60), "daemon did not open it"
    if kind == "delete":
        os.unlink(path)
        f.close()
        return open(path, "ab", buffering=0)
    if kind == "missing":
        os.unlink(path)
        f.close()
        time.sleep(2.5)
        return open(path, "ab", buffering=0)
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["rename", "rename-twice", "copytruncate", "delete", "missing"])
def test_every_line_arrives_in_order_across_rotation(kind, kafka_bootstrap, unique_name, tmp_path):
    topic = make_topic(kafka_bootstrap, unique_name(f"rot_{kind}"))
    log = tmp_path / "access.log"
    log.touch()
    daemon = Daemon(
        tail_args(topic, kafka_bootstrap, tmp_path / "state", log, from_beginning=""),
        tmp_path / "daemon.log",
    ).start()
    reader = TopicReader(kafka_bootstrap, topic)
    try:
        f = open(log, "ab", buffering=0)  # noqa: SIM115
        n = 0
        while n < TOTAL:
            if n in ROTATE_AT:
                # The daemon must be following the file before it can be rotated away.
                assert reader.wait_for(lambda e: len(e) > 0, 60), daemon.log_text()
                f = _rotate(kind, log, f, n, reader)
                if kind in WRITTEN_BY_ROTATION:
                    n += WRITTEN_BY_ROTATION[kind]
                    continue
            f.write(access_line("w", n))
            n += 1
            if n % 10 == 0:
                time.sleep(0.02)
        f.close()
        entries = reader.wait_count(TOTAL, 60)
        assert daemon.stop() == 0, daemon.log_text()
        entries = reader.wait_count(TOTAL + 1, 2)  # anything late (a duplicate) shows up
    finally:
        daemon.stop()
        reader.close()
    assert_complete_in_order(entries, {"w": TOTAL})
    assert duplicates(entries) == 0
    assert all(e.source == "testhost" and e.parse_error is None for e in entries)

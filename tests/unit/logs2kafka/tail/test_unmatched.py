"""A path that matches no file is said, at start and again while it stays so, and the
count of followed files says it too (a mistyped path ships nothing)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from logpipe.logs2kafka.tail import discovery
from tests.support.tailkit import make_tailer


def said(caplog: pytest.LogCaptureFixture, text: str, level: int) -> int:
    return sum(1 for r in caplog.records if text in r.getMessage() and r.levelno == level)


def test_a_path_matching_nothing_is_said_until_it_matches(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(discovery, "UNMATCHED_REPEAT", 0.2)
    caplog.set_level(logging.INFO)
    log = tmp_path / "acess.log"
    glob = str(tmp_path / "nothing" / "*.log")
    with make_tailer([str(log), glob], tmp_path / "state") as tailer:
        assert tailer.followed == 0
        assert said(caplog, f"path {log} matches no file", logging.WARNING) == 1
        assert said(caplog, f"path {glob} matches no file", logging.WARNING) == 1
        time.sleep(0.3)
        tailer.poll()  # a rescan after UNMATCHED_REPEAT: said again
        assert said(caplog, f"path {log} matches no file", logging.WARNING) == 2
        log.write_bytes(b"a line\n")
        time.sleep(0.1)
        tailer.poll()
        assert tailer.followed == 1
        assert said(caplog, f"path {log} matches a file now", logging.INFO) == 1
        time.sleep(0.3)
        tailer.poll()
        assert said(caplog, f"path {log} matches no file", logging.WARNING) == 2
        assert said(caplog, f"path {glob} matches no file", logging.WARNING) >= 2
        log.rename(tmp_path / "acess.log.1")  # rotated away, nothing new: none followed
        time.sleep(0.1)
        tailer.poll()
        assert tailer.followed == 0

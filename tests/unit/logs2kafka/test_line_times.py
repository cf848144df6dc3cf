"""The time of a line that did not parse is a function of its file's bytes: the same when
the file is read from its start (the time carried from line to line) as when reading
starts at that line (a restart: the bytes before it are read again).

Real files, the real tailer and the real parser; no server.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from logpipe.envelope import line_id_offset
from logpipe.formats import LineParser
from logpipe.logs2kafka.line_times import LineTimes
from logpipe.logs2kafka.tail import Line
from tests.support.tailkit import make_tailer

GOOD = b'10.0.0.%d - - [29/Nov/2026:10:%02d:00 +0000] "GET /%d HTTP/1.1" 200 5 "-" "ab"'
BAD = b"\x00\x00 garbage %d"


def good(n: int) -> bytes:
    return GOOD % (n % 250, n % 60, n)


def carried_times(lines: list[Line], parser: LineParser, window: int) -> list[str]:
    """Each line's time as one uninterrupted run gives it."""
    times = LineTimes(None, window)
    out = []
    for line in lines:
        entry = parser.parse(line.data)
        entry.line_id = line.line_id
        if entry.parse_error is None:
            times.parsed(line.file_id, entry.datetime, entry.line_id)
        else:
            times.unparsed(line.file_id, entry, line, parser.parse)
        out.append(entry.datetime)
    return out


@pytest.mark.parametrize("window", [64, 200, 1 << 20])
def test_a_restart_at_any_line_gives_an_unparsed_line_the_time_of_a_full_run(
    tmp_path: Path, window: int
) -> None:
    # Runs of unparsable lines of several lengths, some longer than the window.
    pattern = [1, 0, 0, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0]
    body = [good(n) if keep else BAD % n for n, keep in enumerate(pattern * 3)]
    body = [BAD % 999, *body]  # the file starts with a line that does not parse
    path = tmp_path / "access.log"
    path.write_bytes(b"\n".join(body) + b"\n")
    parser = LineParser()
    tailer = make_tailer(str(path), tmp_path / "state", from_beginning=True)
    try:
        lines = tailer.poll(100_000)
        assert len(lines) == len(body)
        full_run = carried_times(lines, parser, window)
        for index, line in enumerate(lines):
            entry = parser.parse(line.data)
            if entry.parse_error is None:
                continue
            entry.line_id = line.line_id
            restarted = LineTimes(tailer.lines_before, window)
            restarted.unparsed(line.file_id, entry, line, parser.parse)
            given = entry.datetime
            if full_run[index] != given:
                pytest.fail(f"line {index}: {given} after a restart, {full_run[index]} in a run")
        # Within the window the time is the previous parsed line's; the file's first line
        # (and with a small window, lines too far from a parsed one) keep the read time.
        parsed_times = {parser.parse(b).datetime for b in body[1:] if b.startswith(b"10.")}
        own = [i for i, t in enumerate(full_run) if t not in parsed_times]
        if window >= 1 << 20:
            assert own == [0]
        if window >= 200:
            assert full_run[3] == full_run[2] == parser.parse(body[1]).datetime
    finally:
        tailer.close()


def test_lines_before_are_whole_lines_newest_first_with_their_offsets(tmp_path: Path) -> None:
    body = [b"a" * 10, b"", b"bb", b"c" * 30, b"dd"]
    path = tmp_path / "x.log"
    path.write_bytes(b"\n".join(body) + b"\n")
    tailer = make_tailer(str(path), tmp_path / "state", from_beginning=True)
    try:
        lines = tailer.poll(100)
        last = lines[-1]
        start = line_id_offset(last.line_id or "")
        assert tailer.lines_before(last, 10_000) == [
            (b"c" * 30, start - 31),
            (b"bb", start - 34),
            (b"", start - 35),
            (b"a" * 10, 0),
        ]
        # A line starting exactly at the window's edge is in; one starting before it is not.
        assert tailer.lines_before(last, 34) == [(b"c" * 30, start - 31), (b"bb", start - 34)]
        assert tailer.lines_before(last, 33) == [(b"c" * 30, start - 31)]
        assert tailer.lines_before(lines[0], 100) == []
    finally:
        tailer.close()

"""Starting at the end in the middle of a line: the fragment is dropped, positions stay right.

The tailer starts at the very end of a file with no newline in its last chunk and drops
the unfinished line there.  Its end must be recorded in its place (before the lines read
after it) and for the file it belongs to, or the committed offset moves backwards
(duplicates after a restart) or lands on another file (lines skipped, reading resumed
mid-line).
"""

from __future__ import annotations

import json
import os

from logpipe.logs2kafka.checkpoint import STATE_FILE
from tests.support.tailkit import Collector, make_tailer, seq_line, seqs

#: Small enough that the unfinished last line fills the whole last chunk: start at the
#: very end and drop the fragment.
CHUNK = 32


def lines(a: int, b: int) -> bytes:
    return b"".join(seq_line(n) for n in range(a, b))


def append(path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


def offsets(state_dir) -> dict[str, int]:
    state = json.loads((state_dir / STATE_FILE).read_text())
    return {entry["file_id"]: entry["offset"] for entry in state["files"]}


def test_fragment_dropped_with_lines_after_it_does_not_move_the_checkpoint_back(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(lines(0, 3) + b"x" * (CHUNK * 2))  # a writer in the middle of a line
    tailer = make_tailer(str(log), tmp_path / "state", chunk_bytes=CHUNK)
    append(log, b" end of that line\n" + lines(3, 6))
    got = tailer.poll()  # one call: the fragment's end and three lines after it
    assert seqs(got) == [3, 4, 5]
    for line in got:
        tailer.ack(line.file_id, line.end_offset)
    tailer.flush_checkpoints()
    assert offsets(tmp_path / "state") == {got[0].file_id: log.stat().st_size}
    tailer.close()

    again = make_tailer(str(log), tmp_path / "state", chunk_bytes=CHUNK)
    append(log, lines(6, 8))
    c = Collector(again)
    c.until(lambda: len(c.lines) >= 2)
    c.settle(0.1)
    again.close()
    assert seqs(c.lines) == [6, 7]  # nothing sent twice


def test_fragment_then_truncation_does_not_carry_the_old_offset_to_the_new_file(tmp_path):
    log = tmp_path / "a.log"
    log.write_bytes(lines(0, 200) + b"x" * (CHUNK * 2))
    old_size = log.stat().st_size
    tailer = make_tailer(str(log), tmp_path / "state", chunk_bytes=CHUNK)
    assert tailer.poll() == []  # the fragment is being dropped: its line never ended
    # copytruncate (or ``> file``) before the line ended: the file starts again, shorter.
    with open(log, "r+b") as fh:
        fh.truncate(0)
        fh.write(lines(1000, 1005))
    got = tailer.poll()
    assert seqs(got) == [1000, 1001, 1002, 1003, 1004]
    for line in got:
        tailer.ack(line.file_id, line.end_offset)
    tailer.flush_checkpoints()
    new_id = got[0].file_id
    assert offsets(tmp_path / "state")[new_id] == log.stat().st_size < old_size
    tailer.close()

    # The new file grows past the old file's offset; a restart resumes where it was.
    append(log, lines(1005, 1300))
    assert os.path.getsize(log) > old_size
    again = make_tailer(str(log), tmp_path / "state", chunk_bytes=CHUNK)
    c = Collector(again)
    c.until(lambda: len(c.lines) >= 295)
    c.settle(0.1)
    again.close()
    assert seqs(c.lines) == list(range(1005, 1300))

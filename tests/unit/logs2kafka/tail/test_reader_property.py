"""Whatever the chunk size, line budget, line lengths and write pattern: every complete line
comes out once, in order, cut at max_line_bytes, with the offset just after its newline."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from logpipe.logs2kafka.tail.identity import Fingerprint
from logpipe.logs2kafka.tail.reader import FileReader
from tests.support import strategies

line_bytes = strategies.line_bytes(150)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(line_bytes, max_size=30),
    tail=line_bytes,
    max_line_bytes=st.integers(1, 100),
    chunk_bytes=st.integers(1, 64),
    budget=st.integers(1, 7),
    cuts=st.lists(st.integers(0, 10_000), max_size=6),
)
@example([b"abcdef", b"xyz"], b"", 2, 4, 1, [])  # the line after a long one, same chunk
@example([b"ab", b"abc", b"a", b""], b"ab", 2, 3, 2, [4])  # exactly max, max + 1, under
def test_lines_offsets_and_truncation(lines, tail, max_line_bytes, chunk_bytes, budget, cuts):
    content = b"".join(line + b"\n" for line in lines) + tail
    expected, end = [], 0
    for line in lines:
        end += len(line) + 1
        expected.append((line[:max_line_bytes], len(line) > max_line_bytes, end))
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "a.log"
        log.touch()
        fd = os.open(log, os.O_RDONLY)
        reader = FileReader(
            str(log),
            fd,
            os.fstat(fd),
            "id",
            0,
            Fingerprint(),
            max_line_bytes=max_line_bytes,
            chunk_bytes=chunk_bytes,
            now=time.monotonic(),
        )
        got: list = []
        written = 0
        for cut in [*sorted(c % (len(content) + 1) for c in cuts), len(content)]:
            if cut > written:
                with open(log, "ab") as fh:
                    fh.write(content[written:cut])
                written = cut
            while True:
                reader.refresh_size()
                assert not reader.content_replaced()
                batch: list = []
                reader.read(batch, budget, time.monotonic())
                assert len(batch) <= budget
                if not batch:
                    break
                got += batch
        reader.close()
    assert [(line.data, line.truncated, line.end_offset) for line in got] == expected

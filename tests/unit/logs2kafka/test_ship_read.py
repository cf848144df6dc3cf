"""Reading whole files for ``ship``: line splitting, over-long lines, gzip by content."""

from __future__ import annotations

import gzip
import io

from logpipe.formats.lines import read_lines
from logpipe.logs2kafka.ship import SourceFile


def test_lines_without_newlines_and_last_line_kept():
    data = b"one\ntwo\r\n\nthree"
    assert list(read_lines(io.BytesIO(data), 100)) == [
        (b"one", False),
        (b"two\r", False),
        (b"", False),
        (b"three", False),
    ]


def test_over_long_lines_are_cut_and_flagged():
    data = b"short\n" + b"x" * 50 + b"\nafter\n" + b"y" * 30
    assert list(read_lines(io.BytesIO(data), 10, chunk_bytes=7)) == [  # lines span reads
        (b"short", False),
        (b"x" * 10, True),
        (b"after", False),
        (b"y" * 10, True),
    ]


def test_gzip_is_recognised_by_content(tmp_path):
    plain = tmp_path / "access.log"
    plain.write_bytes(b"a\nb\n")
    packed = tmp_path / "access.log.1"  # no .gz suffix: rotated files are not always named
    packed.write_bytes(gzip.compress(b"c\nd\n"))
    for path, expected in ((plain, [b"a", b"b"]), (packed, [b"c", b"d"])):
        src = SourceFile(path)
        try:
            assert [line for line, _ in read_lines(src.stream, 100)] == expected
            assert src.position() == path.stat().st_size
        finally:
            src.close()

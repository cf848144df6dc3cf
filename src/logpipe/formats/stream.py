"""Splitting a byte stream into lines bounded by ``max_line_bytes``.

The ``logs2kafka parse`` command (``logpipe.logs2kafka.parse``) reads its input with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from logpipe.formats.lines import read_lines


def iter_lines(stream: BinaryIO, max_line_bytes: int) -> Iterator[tuple[bytes, bool]]:
    """(line, truncated) for each line, never holding more than ~max_line_bytes of one line.

    The rest of an over-long line is read and dropped up to its newline.  One byte more
    than ``max_line_bytes`` is kept, so a line of exactly ``max_line_bytes`` ending in
    ``\\r\\n`` is not flagged: the parser strips the ``\\r``, then cuts and flags what is
    still too long.
    """
    return read_lines(stream, max_line_bytes + 1)

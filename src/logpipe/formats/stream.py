"""Splitting a byte stream into lines bounded by ``max_line_bytes``.

The ``logs2kafka parse`` command (``logpipe.logs2kafka.parse``) reads its input with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

_SKIP_CHUNK = 64 * 1024


def iter_lines(stream: BinaryIO, max_line_bytes: int) -> Iterator[tuple[bytes, bool]]:
    """(line, truncated) for each line, never holding more than ~max_line_bytes of one line.

    The rest of an over-long line is read and dropped up to its newline.
    """
    limit = max_line_bytes + 2  # room for "\r\n"
    readline = stream.readline
    while True:
        line = readline(limit)
        if not line:
            return
        if len(line) < limit or line[-1:] == b"\n":
            yield line, False
            continue
        while True:
            rest = readline(_SKIP_CHUNK)
            if not rest or rest[-1:] == b"\n":
                break
        yield line, True

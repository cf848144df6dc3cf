"""``logs2kafka parse``: envelopes of a whole file as JSON lines, to check a format.

Users run it on a sample of their log before shipping; tests run it too. It uses the
same LineParser (built from the same options by ``setup.make_parser``) and encoder as
``tail`` and ``ship``, so what it prints is what Kafka would get.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import Any, BinaryIO, TextIO

from logpipe.envelope import encode
from logpipe.formats import LineParser
from logpipe.formats.stream import iter_lines
from logpipe.logs2kafka.setup import apache_config, make_parser


@dataclass
class ParseSummary:
    """Counts of one run; ``str()`` is the one-line summary printed on stderr."""

    lines: int = 0
    parsed: int = 0
    parse_errors: int = 0
    truncated: int = 0

    def __str__(self) -> str:
        return (
            f"lines {self.lines}, parsed {self.parsed}, parse errors {self.parse_errors}, "
            f"truncated {self.truncated}"
        )


def parse_stream(stream: BinaryIO, out: BinaryIO, parser: LineParser) -> ParseSummary:
    """Write one envelope per line of ``stream`` to ``out`` (JSON lines); count them."""
    summary = ParseSummary()
    parse, write = parser.parse, out.write
    lines = parsed = errors = cut = 0
    for line, truncated in iter_lines(stream, parser.max_line_bytes):
        entry = parse(line, truncated)
        write(encode(entry))
        write(b"\n")
        lines += 1
        if entry.parse_error is None:
            parsed += 1
        else:
            errors += 1
        if entry.truncated:
            cut += 1
    summary.lines, summary.parsed, summary.parse_errors, summary.truncated = (
        lines,
        parsed,
        errors,
        cut,
    )
    out.flush()
    return summary


def run_parse(stream: BinaryIO, opts: dict[str, Any], out: BinaryIO, err: TextIO) -> int:
    """``logs2kafka parse``: envelopes to ``out``, the summary line to ``err``; exit code.

    Raises FormatError (before any output) when ``--format`` does not compile. A reader
    that goes away early (``| head``) ends the run quietly.
    """
    parser, _source = make_parser(opts, apache_config(opts))
    try:
        summary = parse_stream(stream, out, parser)
    except BrokenPipeError:
        _silence(out)
        return 0
    print(summary, file=err, flush=True)
    return 0


def _silence(out: BinaryIO) -> None:
    """Point a closed pipe at /dev/null so the interpreter's final flush stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass

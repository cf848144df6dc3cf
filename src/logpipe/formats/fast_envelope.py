"""The envelope of a plain combined-format line in one compiled call, when it is built.

Parsing a line and encoding its envelope in Python costs logs2kafka about 6 us a line;
``logpipe.formats._combined`` (C, built by ``pip install`` where a compiler is) does both
for the common line in about 1.3 us and gives the very bytes ``LineParser.parse`` and
``envelope.encode`` give (checked line by line on real logs and generated ones). It takes
only the lines it can be sure of (printable ASCII, no backslash, a request that splits, a
date that exists, nothing after the user agent); for any other line, any other format,
or where it is not built, ``envelope`` answers None and the Python parser does the work.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import orjson

try:
    from logpipe.formats import _combined
except ImportError:  # no compiler where logpipe was installed: the Python parser serves
    _combined = None  # type: ignore[assignment]

#: (raw line, its id or None) -> (the message, the line's ISO 8601 time), or None when
#: the line is one for the Python parser.
Envelope = Callable[[bytes, "str | None"], "tuple[bytes, str] | None"]

#: Whether the compiled encoder is there (``logs2kafka tail`` logs it at start-up as
#: ``compiled_encoder`` on its "following" line, for the combined format).
AVAILABLE = _combined is not None


def none(_line: bytes, _line_id: str | None) -> None:
    """The envelope function of a format with no compiled path: always the parser's work."""
    return None


def head(source: str, type_: str) -> bytes:
    """The start of every envelope of one parser, up to the datetime's opening quote,
    encoded once by the same encoder as ``envelope.encode``."""
    whole = orjson.dumps({"log": {"source": source, "type": type_, "datetime": ""}})
    return whole[: -len(b'"}}')]


def combined(source: str, type_: str, max_line_bytes: int) -> Envelope:
    """The compiled envelope function of a combined-format parser, or ``none``."""
    if _combined is None:
        return none
    return functools.partial(_combined.envelope, head(source, type_), max_line_bytes)

"""The time of a line that did not parse: the time of the parsed line before it.

A line that does not parse has no request time of its own. Giving it the time it was
read would make its event-mode ``log_id`` (built from that time and the line's ``id``)
differ each time it is read: after a kill -9 of logs2kafka the line is read again, in
another second, and becomes a second row. So it takes the time of the nearest line
before it in the same file that did parse and whose start lies at most
``LOOKBACK_BYTES`` before its own start: a function of the file's bytes only, the same
whoever reads it and whenever.

While a file is read in order the time is carried from line to line (one dict store per
parsed line). After a restart in the middle of a file the carried time is unknown, and
the bytes before the line are read again (``lookback``, at most ``LOOKBACK_BYTES``,
once per file and run). Only a line with no parsed line in the ``LOOKBACK_BYTES``
before it (the file's first lines, or a run of unparsable bytes longer than that)
keeps the time it was read.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, Protocol

from logpipe.envelope import LogEntry, line_id_offset

#: How far back a line that did not parse looks for a parsed one.
LOOKBACK_BYTES = 1024 * 1024

#: Streams whose time is kept; more (a run over many rotated files) start afresh.
MAX_STREAMS = 1024

#: Given a line's token and a number of bytes: the complete lines that start at most that
#: far before it in its file, newest first, each with its start offset.
Lookback = Callable[[Any, int], Sequence[tuple[bytes, int]]]


class _Parse(Protocol):
    def __call__(self, line: bytes, truncated: bool = False) -> LogEntry: ...


class LineTimes:
    """The last parsed time per stream (a file being read), and the rule above."""

    __slots__ = ("_last", "_lookback", "window")

    def __init__(self, lookback: Lookback | None = None, window: int = LOOKBACK_BYTES) -> None:
        self._lookback = lookback
        self.window = window
        #: stream -> (datetime, id) of its last parsed line; (None, None) once the
        #: look-back found none.
        self._last: dict[Hashable, tuple[str | None, str | None]] = {}

    def parsed(self, stream: Hashable, when: str, line_id: str | None) -> None:
        """A line parsed (its time, its id): lines after it that do not parse may take
        its time."""
        last = self._last
        if len(last) >= MAX_STREAMS and stream not in last:
            last.clear()
        last[stream] = (when, line_id)

    def unparsed(self, stream: Hashable, entry: LogEntry, token: Any, parse: _Parse) -> None:
        """``entry`` did not parse: give it the time of the parsed line before it, if any
        (``parse``: the parser of the line's file, for the lines looked back at)."""
        line_id = entry.line_id
        if line_id is None:
            return
        known = self._last.get(stream)
        if known is None:
            known = self._last[stream] = self._look_back(token, parse)
        when, before = known
        if when is None or before is None:
            return
        if line_id_offset(line_id) - line_id_offset(before) <= self.window:
            entry.datetime = when

    def _look_back(self, token: Any, parse: _Parse) -> tuple[str | None, str | None]:
        if self._lookback is None:
            return (None, None)
        for data, start in self._lookback(token, self.window):
            entry = parse(data)
            if entry.parse_error is None:
                return (entry.datetime, f"0:{start}")  # only its offset is read
        return (None, None)

"""Where a line goes that Kafka refused for good: a local file of JSON lines.

A record refused for good (larger than the topic accepts even after fitting, invalid,
refused by a policy) cannot be sent again with any hope, and holding it would freeze
the checkpoint behind it. It is written here, with why and where it came from, and then
counts as delivered so the checkpoint moves on: the line is accounted for, not lost.

One JSON object per line in ``rejects.jsonl`` under the state directory::

    {"time": "2026-01-01T00:00:00.123+00:00", "reason": "message_too_large",
     "error": "...", "path": "/var/log/apache2/access.log", "end_offset": 12345,
     "line": "..."}

``end_offset`` is the byte offset just after the line in its file (null for ``ship``,
whose lines may come from gzip files); ``line`` is the raw line with bytes that are not
UTF-8 kept visible as ``\\xHH`` escapes, as in the envelope.

Bounded by rotation: when the file would grow past ``max_bytes`` it is renamed to
``rejects.jsonl.1`` (replacing the previous one), so the two take at most twice
``max_bytes``. The ``logs2kafka_lines_rejected_total`` metric counts every reject, also
those rotated away. A reject that cannot be written (disk full) is logged whole instead.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from logpipe.observability import get_logger

log = get_logger("rejects")

FILE_NAME = "rejects.jsonl"
#: Size at which the reject file is rotated (one older file is kept).
MAX_BYTES = 32 * 1024 * 1024

#: From a line's token to (path, end offset) for the record, either may be None.
Locate = Callable[[Any], tuple[str | None, int | None]]


def _nowhere(_token: Any) -> tuple[str | None, int | None]:
    return None, None


class Rejects:
    """Writes refused lines to ``directory/rejects.jsonl`` (or only to the log when
    ``directory`` is None) and counts them."""

    def __init__(
        self,
        directory: Path | None,
        locate: Locate = _nowhere,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self.path = None if directory is None else Path(directory) / FILE_NAME
        self._locate = locate
        self.max_bytes = max_bytes
        self.count = 0

    def write(self, data: bytes, reason: str, error: str, token: Any) -> None:
        """Record one refused line durably (fsync) before it counts as delivered."""
        self.count += 1
        path, end_offset = self._locate(token)
        record = {
            "time": _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds"),
            "reason": reason,
            "error": error,
            "path": path,
            "end_offset": end_offset,
            "line": data.decode("utf-8", "backslashreplace"),
        }
        encoded = orjson.dumps(record) + b"\n"
        summary = {"reason": reason, "error": error, "path": path, "end_offset": end_offset}
        if self.path is not None:
            try:
                self._append(encoded)
            except OSError as exc:
                log.error(
                    "line refused by Kafka; the reject file failed, the line is in this record",
                    extra={**summary, "reject_file_error": str(exc), "line": record["line"]},
                )
                return
            log.warning(
                "line refused by Kafka, written to the reject file",
                extra={**summary, "reject_file": str(self.path)},
            )
            return
        log.error("line refused by Kafka", extra={**summary, "line": record["line"]})

    def _append(self, encoded: bytes) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size and size + len(encoded) > self.max_bytes:
            os.replace(self.path, self.path.with_name(FILE_NAME + ".1"))
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, encoded)
            os.fsync(fd)
        finally:
            os.close(fd)


def line_place(line: Any) -> tuple[str | None, int | None]:
    """Where a tailer's ``Line`` (the token of ``tail``) came from."""
    return line.path, line.end_offset


def file_place(path: Any) -> tuple[str | None, int | None]:
    """Where a line of ``ship`` came from: its file (the token), no offset."""
    return str(path), None

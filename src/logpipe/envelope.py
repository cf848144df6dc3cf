"""The one definition of a log entry and of its Kafka message.

Producer, consumer, tests and benchmarks all import this module, so the wire format
cannot drift between the two daemons. The message is UTF-8 JSON encoded once::

    {"log": {"source": ..., "type": ..., "datetime": ..., "log": ...,
             "fields": {...} | "parse_error": "...", "truncated": true?, "id": "..."?}}

``id`` names the line itself, not the message: ``<head>:<start>``, where ``start`` is the
byte offset at which the line begins in its file (decimal) and ``head`` the hex digest of
the file's first ``min(1024, end of the line)`` bytes. It is a function of the file's
content alone (not of its inode, of when or how often the line was read, or of the
Kafka record), so a line sent twice (a resend after a crash of logs2kafka, a copytruncate
copy read again, ``ship`` of a rotated file already tailed, plain or gzip) carries the
same ``id`` both times; kafka2cassandra's ``event`` mode derives ``log_id`` from it, which
makes the two sends one row. A line ending inside the first KiB takes the digest of the
bytes up to its own end, so its ``id`` does not change as the file grows. Messages without
``id`` (older producers, ``logs2kafka parse``) stay valid.

``decode`` also reads the seed tutorial's older message (a JSON string holding the JSON
envelope, with the raw line wrapped in single quotes and ``datetime`` as
``YYYY-MM-DD HH:MM``), so users can switch without draining their topic first.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

#: Messages larger than this are refused by ``decode`` (Kafka's default max is 1 MiB;
#: a 256 KiB line plus its fields and escaping fits well below it).
MAX_MESSAGE_BYTES = 4 * 1024 * 1024

JsonScalar = str | int | float | bool | None

#: How a line's ``id`` is written: ``LINE_ID_TEMPLATE.format(head_digest, start_offset)``.
LINE_ID_TEMPLATE = "{}:{}"
_LINE_ID = re.compile(r"[0-9a-f]{8,64}:(0|[1-9][0-9]{0,18})")


class EnvelopeError(ValueError):
    """A Kafka message that is not a log envelope; the message says what is wrong."""


@dataclass(slots=True)
class LogEntry:
    """One log line as both daemons see it.

    ``fields`` is set when the line parsed; ``parse_error`` (a short reason) when it
    did not. ``truncated`` marks a line cut at ``--max-line-bytes``. ``line_id`` (the
    message's ``id``) names the line by its file's content and its offset, when known.
    """

    source: str
    type: str
    datetime: str
    log: str
    fields: dict[str, JsonScalar] | None = None
    parse_error: str | None = None
    truncated: bool = False
    line_id: str | None = None
    #: True when decoded from the tutorial's twice-encoded form (not part of equality).
    legacy: bool = field(default=False, compare=False, repr=False)

    def as_message(self) -> dict[str, Any]:
        """The envelope as a plain dict, in the key order of the design document."""
        inner: dict[str, Any] = {
            "source": self.source,
            "type": self.type,
            "datetime": self.datetime,
            "log": self.log,
        }
        if self.parse_error is not None:
            inner["parse_error"] = self.parse_error
        else:
            inner["fields"] = self.fields if self.fields is not None else {}
        if self.truncated:
            inner["truncated"] = True
        if self.line_id is not None:
            inner["id"] = self.line_id
        return {"log": inner}


def encode(entry: LogEntry) -> bytes:
    """Compact UTF-8 JSON, encoded once."""
    return orjson.dumps(entry.as_message())


def _require_str(inner: dict[str, Any], key: str) -> str:
    if key not in inner:
        raise EnvelopeError(f"key 'log.{key}' missing")
    value = inner[key]
    if not isinstance(value, str):
        raise EnvelopeError(f"'log.{key}' is {type(value).__name__}, not a string")
    return value


def decode(value: bytes | None, max_bytes: int = MAX_MESSAGE_BYTES) -> LogEntry:
    """Read a Kafka message value into a LogEntry, or raise EnvelopeError saying why not."""
    if value is None:
        raise EnvelopeError("empty message (null value)")
    if len(value) > max_bytes:
        raise EnvelopeError(f"too large: {len(value)} bytes > {max_bytes}")
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise EnvelopeError(f"not JSON: {exc}") from None
    legacy = False
    if isinstance(doc, str):
        # The tutorial's producer encoded an already encoded string a second time.
        legacy = True
        try:
            doc = orjson.loads(doc)
        except orjson.JSONDecodeError as exc:
            raise EnvelopeError(f"a JSON string that holds no JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise EnvelopeError(f"not an object: {type(doc).__name__}")
    if "log" not in doc:
        raise EnvelopeError("key 'log' missing")
    inner = doc["log"]
    if not isinstance(inner, dict):
        raise EnvelopeError(f"'log' is {type(inner).__name__}, not an object")
    source = _require_str(inner, "source")
    if not source:
        raise EnvelopeError("'log.source' is empty")
    kind = _require_str(inner, "type")
    if not kind:
        raise EnvelopeError("'log.type' is empty")
    when = _require_str(inner, "datetime")
    line = _require_str(inner, "log")
    fields = inner.get("fields")
    if fields is not None and not isinstance(fields, dict):
        raise EnvelopeError(f"'log.fields' is {type(fields).__name__}, not an object")
    parse_error = inner.get("parse_error")
    if parse_error is not None and not isinstance(parse_error, str):
        raise EnvelopeError(f"'log.parse_error' is {type(parse_error).__name__}, not a string")
    truncated = inner.get("truncated", False)
    if not isinstance(truncated, bool):
        raise EnvelopeError(f"'log.truncated' is {type(truncated).__name__}, not a boolean")
    line_id = inner.get("id")
    if line_id is not None and not (isinstance(line_id, str) and _LINE_ID.fullmatch(line_id)):
        raise EnvelopeError(f"'log.id' is not <hex digest>:<offset>: {line_id!r:.80}")
    if legacy and len(line) >= 2 and line[0] == "'" and line[-1] == "'":
        line = line[1:-1]
    return LogEntry(
        source=source,
        type=kind,
        datetime=when,
        log=line,
        fields=fields,
        parse_error=parse_error,
        truncated=truncated,
        line_id=line_id,
        legacy=legacy,
    )


def line_id_offset(line_id: str) -> int:
    """The byte offset at which the line named by a (decoded, so valid) ``id`` begins."""
    return int(line_id.rpartition(":")[2])


_LEGACY_FORMAT = "%Y-%m-%d %H:%M"


def parse_datetime(text: str) -> _dt.datetime:
    """The request time of an entry, timezone-aware.

    Accepts ISO 8601 (our form) and the tutorial's ``YYYY-MM-DD HH:MM`` (no offset: read
    as UTC). Raises ValueError for anything else.
    """
    if len(text) == 16 and text[10] == " ":
        return _dt.datetime.strptime(text, _LEGACY_FORMAT).replace(tzinfo=_dt.UTC)
    when = _dt.datetime.fromisoformat(text)
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.UTC)
    return when

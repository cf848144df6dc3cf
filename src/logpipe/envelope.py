"""The one definition of a log entry and of its Kafka message.

Producer, consumer, tests and benchmarks all import this module, so the wire format
cannot drift between the two daemons. The message is UTF-8 JSON encoded once::

    {"log": {"source": ..., "type": ..., "datetime": ..., "log": ...,
             "fields": {...} | "parse_error": "...", "truncated": true?}}

``decode`` also reads the seed tutorial's older message (a JSON string holding the JSON
envelope, with the raw line wrapped in single quotes and ``datetime`` as
``YYYY-MM-DD HH:MM``), so users can switch without draining their topic first.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

import orjson

#: Messages larger than this are refused by ``decode`` (Kafka's default max is 1 MiB;
#: a 256 KiB line plus its fields and escaping fits well below it).
MAX_MESSAGE_BYTES = 4 * 1024 * 1024

JsonScalar = str | int | float | bool | None


class EnvelopeError(ValueError):
    """A Kafka message that is not a log envelope; the message says what is wrong."""


@dataclass(slots=True)
class LogEntry:
    """One log line as both daemons see it.

    ``fields`` is set when the line parsed; ``parse_error`` (a short reason) when it
    did not. ``truncated`` marks a line cut at ``--max-line-bytes``.
    """

    source: str
    type: str
    datetime: str
    log: str
    fields: dict[str, JsonScalar] | None = None
    parse_error: str | None = None
    truncated: bool = False
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
        legacy=legacy,
    )


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

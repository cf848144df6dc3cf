"""``LineParser``: one raw line of bytes in, exactly one ``LogEntry`` out, never an exception.

``logs2kafka tail``, ``ship`` and ``parse`` all go through here, so what a user sees when
checking a format is exactly what gets shipped. The combined format (most users' format)
has a hand-written converter: the same compiled regex, but no per-field loop.
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any, Protocol

from logpipe.config.settings import FORMAT, MAX_LINE_BYTES
from logpipe.envelope import LogEntry
from logpipe.formats import fast_envelope
from logpipe.formats.errorlog import ErrorLogFormat
from logpipe.formats.logformat import compile_logformat, split_request
from logpipe.formats.presets import COMBINED, FormatSpec, resolve_format
from logpipe.formats.timefmt import clf_to_iso, utc_now_iso
from logpipe.formats.zones import has_offset, resolve_zone, with_offset

DEFAULT_MAX_LINE_BYTES: int = MAX_LINE_BYTES.default
_BOM = "\ufeff"


class _Format(Protocol):
    logformat: str
    has_time: bool
    fast: re.Pattern[str]

    def match(self, text: str, pos: int = 0) -> re.Match[str] | None: ...
    def match_slow(self, text: str, pos: int = 0) -> re.Match[str] | None: ...
    def convert(self, groups: tuple[str | None, ...]) -> tuple[dict[str, Any], str | None]: ...
    def diagnose(self, text: str, pos: int = 0) -> str: ...


def convert_combined(groups: tuple[str | None, ...]) -> tuple[dict[str, Any], str | None]:
    """The combined format's groups -> (fields, datetime), without the generic loop."""
    host, ident, user, stamp, method, path, protocol, raw, status, size, referer, agent, extra = (
        groups
    )
    unsplit = None
    if method is None:
        method, path, protocol, unsplit = split_request(raw or "")
    fields: dict[str, Any] = {
        "remote_host": None if host == "-" else host,
        "ident": None if ident == "-" else ident,
        "remote_user": None if user == "-" else user,
        "method": method,
        "path": path,
        "protocol": protocol,
        "status": None if status == "-" else int(status),  # type: ignore[arg-type]
        "bytes": None if size == "-" else int(size),  # type: ignore[arg-type]
        "referer": None if referer == "-" else referer,
        "user_agent": None if agent == "-" else agent,
    }
    if unsplit is not None:
        fields["request"] = unsplit
    if extra:
        fields["extra"] = extra.rstrip()
    return fields, clf_to_iso(stamp)  # type: ignore[arg-type]


def build_format(spec: FormatSpec) -> _Format:
    """The matcher for a resolved format (compiled once)."""
    if spec.name == "error":
        return ErrorLogFormat()
    compiled = compile_logformat(spec.logformat)
    if spec.logformat == COMBINED:
        compiled.convert = convert_combined  # type: ignore[method-assign]
    return compiled


class LineParser:
    """Parses lines of one format for one source into LogEntry objects.

    ``fmt`` is a preset name or any LogFormat string; ``type`` None takes the preset's
    default (``www_access``, or ``www_error`` for ``error``). Lines longer than
    ``max_line_bytes`` are cut and flagged ``truncated``. A time written without a UTC
    offset (the error log, a ``%{...}t`` without ``%z``) is local time in ``timezone``
    (an IANA name; None: this host's zone) and gets that zone's offset at that moment.
    """

    def __init__(
        self,
        fmt: str | FormatSpec | None = FORMAT.default,
        source: str = "localhost",
        type: str | None = None,  # the envelope's own word
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        timezone: str | _dt.tzinfo | None = None,
    ) -> None:
        self.spec = resolve_format(fmt)
        self.zone = resolve_zone(timezone)
        self.format = build_format(self.spec)
        self.source = source
        self.type = type or self.spec.default_type
        self.max_line_bytes = max(1, int(max_line_bytes))
        self._fast = self.format.fast.match
        self._slow = self.format.match_slow
        self._convert = self.format.convert
        #: (line, line id) -> (the encoded envelope, its datetime) for a line the compiled
        #: encoder takes, else None: then ``parse`` (``logpipe.formats.fast_envelope``).
        self.envelope: fast_envelope.Envelope = (
            fast_envelope.combined(self.source, self.type, self.max_line_bytes)
            if self._convert is convert_combined  # the combined format, as build_format says
            else fast_envelope.none
        )

    def parse(
        self, line: bytes, truncated: bool = False, read_time: _dt.datetime | None = None
    ) -> LogEntry:
        """One line (with or without its newline) -> one LogEntry. Never raises."""
        try:
            if line[-1:] == b"\n":
                line = line[:-1]
            if line[-1:] == b"\r":
                line = line[:-1]
            if len(line) > self.max_line_bytes:
                line = line[: self.max_line_bytes]
                truncated = True
            try:
                text = line.decode()
            except UnicodeDecodeError:
                text = line.decode("utf-8", "backslashreplace")
            start = 1 if text[:1] == _BOM else 0
            # no backslash, no escapes: the simpler expression is exact and faster
            found = self._fast(text, start) if "\\" not in text else None
            if found is None:
                found = self._slow(text, start)
            if found is None:
                return self._error(text, self.format.diagnose(text, start), truncated, read_time)
            try:
                fields, when = self._convert(found.groups())
                if when is not None and not has_offset(when):
                    when = with_offset(when, self.zone)
            except (ValueError, OverflowError, OSError) as exc:  # a time that does not exist
                return self._error(text, f"bad time: {exc}", truncated, read_time)
            return LogEntry(
                self.source,
                self.type,
                when or utc_now_iso(read_time),
                text,
                fields,
                None,
                truncated,
            )
        except Exception as exc:  # a bug must not stop the pipeline: ship the line flagged
            return self._failed(line, exc, truncated, read_time)

    def _failed(
        self, line: Any, exc: Exception, truncated: bool, read_time: _dt.datetime | None
    ) -> LogEntry:
        try:
            text = bytes(line).rstrip(b"\r\n")[: self.max_line_bytes]
            log = text.decode("utf-8", "backslashreplace")
        except Exception:
            log = ""
        return self._unparsed(log, f"internal error: {type(exc).__name__}", truncated, read_time)

    def _error(
        self, text: str, reason: str, truncated: bool, read_time: _dt.datetime | None
    ) -> LogEntry:
        name = self.spec.name if self.spec.name != "custom" else "given"
        return self._unparsed(text, f"not in the {name} format: {reason}", truncated, read_time)

    def _unparsed(
        self, log: str, parse_error: str, truncated: bool, read_time: _dt.datetime | None
    ) -> LogEntry:
        """A line shipped as it is, flagged: its time is the time it was read."""
        return LogEntry(
            source=self.source,
            type=self.type,
            datetime=utc_now_iso(read_time),
            log=log,
            parse_error=parse_error,
            truncated=truncated,
        )

"""Apache httpd's error log (2.4 default ``ErrorLogFormat``, and the 2.2 form).

The error log is not written through a LogFormat string, so it gets a matcher of its own
with the same interface as a compiled LogFormat (``match``, ``convert``, ``diagnose``)::

    [Fri Sep 09 10:42:29.902022 2011] [core:error] [pid 35708:tid 4328636416]
        [client 72.15.99.187] File does not exist: /usr/local/apache2/htdocs/favicon.ico
    [Wed Oct 11 14:32:52 2000] [error] [client 127.0.0.1] client denied by server ...

(each one line in the file).
Its times carry no UTC offset (httpd writes local time): ``convert`` returns them without
one, and ``LineParser`` adds the offset of the host's zone (or ``--timezone``) at that time.
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any

from logpipe.formats.timefmt import MONTHS

ERROR_REGEX = re.compile(
    r"\[[A-Z][a-z]{2} ([A-Z][a-z]{2}) ([ \d]\d) ((?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d)"
    r"(?:\.(\d{1,6}))? (\d{4})\]"  # 1-5: time
    r" \[(?:([^\]:]*):)?([^\]]*)\]"  # 6 module, 7 level
    r"(?: \[pid (\d+)(?::tid (\d+))?\])?"  # 8 pid, 9 tid
    r"(?: ([^\s\[\]]+:\d+):)?"  # 10 source file:line (debug builds)
    r"(?: \((-?\d+)\)([^:\[]*):)?"  # 11 OS errno, 12 its text
    r"(?: \[client ([^\]]*)\])?"  # 13 client
    r"(?: (AH\d{5}):)?"  # 14 error code
    r" ?(.*?)"  # 15 message
    r"(?:, referer:? (\S*))?\s*\Z",  # 16 referer
    re.DOTALL,
)


def _split_client(client: str, modern: bool) -> tuple[str, int | None]:
    """``127.0.0.1:54321`` / ``::1:58619`` -> host and port; ``72.15.99.187`` -> host only."""
    head, sep, tail = client.rpartition(":")
    if sep and tail.isdigit() and len(tail) <= 5 and ("." in head or modern):
        return head, int(tail)
    return client, None


class ErrorLogFormat:
    """The ``error`` preset."""

    logformat = (
        "[%{u}t] [%-m:%l] [pid %P:tid %T] %7F: %E: [client\\ %a] %M% ,\\ referer\\ %{Referer}i"
    )
    fast = ERROR_REGEX
    regex = ERROR_REGEX
    has_time = True

    def match(self, text: str, pos: int = 0) -> re.Match[str] | None:
        return ERROR_REGEX.match(text, pos)

    def match_slow(self, text: str, pos: int = 0) -> re.Match[str] | None:
        """The same expression: the error log has no quoting to treat apart."""
        return ERROR_REGEX.match(text, pos)

    def convert(self, groups: tuple[str | None, ...]) -> tuple[dict[str, Any], str | None]:
        """Groups -> (fields, ISO time); ValueError for a date that does not exist."""
        (month, day, clock, frac, year, module, level, pid, tid, source_line, errno) = groups[:11]
        (errtext, client, code, message, referer) = groups[11:]
        number = MONTHS.get(month or "")
        if number is None:
            raise ValueError(f"unknown month {month!r}")
        when = f"{year}-{number:02d}-{int(day or '0'):02d}T{clock}"
        if frac:
            when += "." + frac
        _dt.date.fromisoformat(when[:10])  # a real date, or ValueError (31 Feb)
        fields: dict[str, Any] = {
            "module": module,
            "level": level,
            "pid": int(pid) if pid else None,
            "tid": int(tid) if tid else None,
        }
        if source_line:
            fields["source_line"] = source_line
        if errno is not None:
            fields["os_errno"] = int(errno)
            fields["os_error"] = (errtext or "").strip()
        if client is not None:
            host, port = _split_client(client, module is not None)
            fields["remote_host"] = host
            fields["remote_port"] = port
        fields["error_code"] = code
        fields["message"] = message
        if referer is not None:
            fields["referer"] = referer
        return fields, when

    def diagnose(self, text: str, pos: int = 0) -> str:
        if len(text) <= pos:
            return "empty line"
        if not text.startswith("[", pos):
            return "expected '[' and a time at column 1"
        return "not an Apache error log line ([time] [module:level] ...)"

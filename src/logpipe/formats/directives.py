"""What each Apache ``LogFormat`` directive means to us: its field name and value kind.

One table, so the names in ``fields`` (DESIGN.md, "The message") are decided in one place
and the compiler (``logformat.py``) only has to turn kinds into regular expressions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class Kind(Enum):
    """How a directive's text is matched and converted."""

    TOKEN = "token"  # no spaces: hosts, users, methods; "-" -> null
    TEXT = "text"  # anything (headers, notes, cookies); "-" -> null
    INT = "int"  # digits or "-" -> int or null
    STATUS = "status"  # three digits or "-"
    RAW = "raw"  # kept as written, "-" included (%X: "-" means "connection closed")
    REQUEST = "request"  # %r: split into method, path, protocol
    TIME = "time"  # %t: [day/Mon/year:HH:MM:SS +hhmm]
    TIME_FORMAT = "time_format"  # %{format}t


class FormatError(ValueError):
    """A LogFormat string we cannot compile; the message names the directive."""


@dataclass(frozen=True)
class Directive:
    """One ``%...`` item of a LogFormat string."""

    text: str  # as written, e.g. "%>s" or "%{User-Agent}i"
    letter: str  # "s", "i", "^ti", ...
    arg: str | None = None
    conditional: bool = False  # status-code condition such as %400,501{...}i or %!200i


def snake(name: str) -> str:
    """``X-Forwarded-For`` -> ``x_forwarded_for``."""
    return re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_") or "unnamed"


_SIMPLE: dict[str, tuple[str, Kind]] = {
    "h": ("remote_host", Kind.TOKEN),
    "a": ("remote_ip", Kind.TOKEN),
    "A": ("local_ip", Kind.TOKEN),
    "B": ("bytes", Kind.INT),
    "b": ("bytes", Kind.INT),
    "D": ("duration_us", Kind.INT),
    "f": ("filename", Kind.TEXT),
    "H": ("protocol", Kind.TOKEN),
    "k": ("keepalive_requests", Kind.INT),
    "l": ("ident", Kind.TOKEN),
    "L": ("request_log_id", Kind.TOKEN),
    "m": ("method", Kind.TOKEN),
    "p": ("port", Kind.INT),
    "P": ("pid", Kind.INT),
    "q": ("query", Kind.TOKEN),
    "r": ("request", Kind.REQUEST),
    "R": ("handler", Kind.TOKEN),
    "s": ("status", Kind.STATUS),
    "t": ("time", Kind.TIME),
    "T": ("duration_s", Kind.INT),
    "u": ("remote_user", Kind.TOKEN),
    "U": ("url_path", Kind.TOKEN),
    "v": ("vhost", Kind.TOKEN),
    "V": ("server_name", Kind.TOKEN),
    "X": ("connection_status", Kind.RAW),
    "I": ("bytes_received", Kind.INT),
    "O": ("bytes_sent", Kind.INT),
    "S": ("bytes_transferred", Kind.INT),
}

#: Directives that need ``{arg}``, and the prefix of their field name.
_NAMED: dict[str, str] = {
    "i": "header_",
    "o": "response_header_",
    "e": "env_",
    "n": "note_",
    "C": "cookie_",
    "x": "ssl_",
    "^ti": "trailer_in_",
    "^to": "trailer_out_",
}

#: Request headers with a name of their own in DESIGN.md.
_WELL_KNOWN_HEADERS = {"referer": "referer", "user-agent": "user_agent"}

_ARG_VARIANTS: dict[tuple[str, str], tuple[str, Kind]] = {
    ("h", "c"): ("peer_host", Kind.TOKEN),
    ("a", "c"): ("peer_ip", Kind.TOKEN),
    ("p", "canonical"): ("port", Kind.INT),
    ("p", "local"): ("local_port", Kind.INT),
    ("p", "remote"): ("remote_port", Kind.INT),
    ("P", "pid"): ("pid", Kind.INT),
    ("P", "tid"): ("tid", Kind.INT),
    ("P", "hextid"): ("tid", Kind.TOKEN),
    ("T", "s"): ("duration_s", Kind.INT),
    ("T", "ms"): ("duration_ms", Kind.INT),
    ("T", "us"): ("duration_us", Kind.INT),
}


def describe(directive: Directive) -> tuple[str, Kind]:
    """The field name and kind of a directive; FormatError for one we do not know."""
    letter, arg = directive.letter, directive.arg
    if letter in _NAMED:
        if not arg:
            raise FormatError(f"{directive.text} needs a name in braces, e.g. %{{Referer}}i")
        if letter == "i" and arg.lower() in _WELL_KNOWN_HEADERS:
            return _WELL_KNOWN_HEADERS[arg.lower()], Kind.TEXT
        return _NAMED[letter] + snake(arg), Kind.TEXT
    if letter == "t" and arg is not None:
        return "time", Kind.TIME_FORMAT
    if arg is not None and (letter, arg) in _ARG_VARIANTS:
        return _ARG_VARIANTS[(letter, arg)]
    if letter in _SIMPLE:
        if arg is not None and letter in ("h", "a", "p", "P", "T"):
            raise FormatError(f"unknown argument {{{arg}}} in {directive.text}")
        return _SIMPLE[letter]
    raise FormatError(f"unknown directive {directive.text}")


def tokenize(fmt: str) -> list[str | Directive]:
    """Split a LogFormat string into literal text and directives, as mod_log_config does.

    Modifiers between ``%`` and the letter may come in any order: ``<`` / ``>`` (original
    or final request), ``!`` and comma-separated status codes (a condition: the field
    reads ``-`` when it does not hold), ``{arg}``. ``\\n`` and ``\\t`` in literal text are
    a newline and a tab, as in httpd.
    """
    items: list[str | Directive] = []
    literal: list[str] = []
    i, end = 0, len(fmt)
    while i < end:
        char = fmt[i]
        if char == "\\" and i + 1 < end and fmt[i + 1] in "nt\\":
            literal.append({"n": "\n", "t": "\t", "\\": "\\"}[fmt[i + 1]])
            i += 2
            continue
        if char != "%":
            literal.append(char)
            i += 1
            continue
        start = i
        i += 1
        arg: str | None = None
        conditional = False
        while i < end:
            mod = fmt[i]
            if mod in "<>,":
                i += 1
            elif mod == "!" or mod.isdigit():
                conditional = True
                i += 1
            elif mod == "{":
                close = fmt.find("}", i)
                if close < 0:
                    raise FormatError(f"unclosed {{ in {fmt[start:]!r}")
                arg = fmt[i + 1 : close]
                i = close + 1
            else:
                break
        if i >= end:
            raise FormatError(f"format ends inside a directive: {fmt[start:]!r}")
        if fmt[i] == "%" and i == start + 1:
            literal.append("%")
            i += 1
            continue
        letter = fmt[i]
        if letter == "^":
            letter = fmt[i : i + 3]
            i += 3
        else:
            i += 1
        if literal:
            items.append("".join(literal))
            literal = []
        items.append(Directive(fmt[start:i], letter, arg, conditional))
    if literal:
        items.append("".join(literal))
    return items

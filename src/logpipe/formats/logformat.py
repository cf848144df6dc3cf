"""Compile an Apache ``LogFormat`` string, once, into one regular expression and a plan.

The plan says, for each regex group, which field it fills and how its text is converted.
Real lines are messier than the spec, so the expression is built to tolerate what httpd
and the tools around it actually write:

- a quoted field holds anything but an unescaped ``"`` (``\\"`` and ``\\\\`` are Apache's
  escapes and stay in the value as written, like its ``\\xHH``);
- a space next to a quote may be missing (``"-""Mozilla/5.0 ..."``) or doubled;
- the closing quote of the last field may be missing when the line ends there;
- text after the last field (extra fields appended by a proxy or a later config) is
  kept in ``fields["extra"]`` instead of failing the line.

When that strict expression fails, a lenient one (quoted fields may hold bare quotes) is
tried on lines of modest length; after that the line is a parse error whose reason names
the first item of the format that did not match.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from logpipe.formats.directives import Directive, FormatError, Kind, describe, tokenize
from logpipe.formats.timefmt import CLF_TIME, assemble, clf_to_iso, compile_time_format

Fields = dict[str, Any]

#: A quoted value: no bare quote; a backslash escapes the next character.
QUOTED = r'[^"\\]*(?:\\.[^"\\]*)*'
#: For lines without any backslash (most lines), hence without escapes: a third faster.
PLAIN_QUOTED = r'[^"]*'
LENIENT_QUOTED = r".*?"
#: Lenient matching backtracks; beyond this many characters it is not attempted.
LENIENT_MAX_CHARS = 8192

_INT = r"(\d{1,18}|-)"
_STATUS = r"(\d{3}|-)"
_TIME = r"\[(" + CLF_TIME + r")\]"
#: The request line split by the regex itself in the usual case; otherwise whole.
_REQUEST_QUOTED = r"(?:([A-Z]{{1,20}}) (\S+) (HTTP/\d\.\d)|({}))"
_REQUEST_SPLIT = re.compile(
    r"([A-Za-z0-9_.!#$%&'*+^`|~-]+) (\S.*?)(?: ([A-Za-z]+/\S*))?\Z", re.DOTALL
)


def split_request(raw: str) -> tuple[str | None, str | None, str | None, str | None]:
    """A request line -> (method, path, protocol, unsplit).

    ``-`` gives nothing; ``GET /x HTTP/1.1``, ``GET /x`` (HTTP/0.9), ``CONNECT host:443``
    split; garbage (a TLS handshake sent to port 80, an empty request) comes back whole
    as ``unsplit``.
    """
    if raw == "-":
        return None, None, None, None
    found = _REQUEST_SPLIT.match(raw)
    if found is None:
        return None, None, None, raw
    return found.group(1), found.group(2), found.group(3), None


def to_int(value: str) -> int | None:
    return None if value == "-" else int(value)


def to_str(value: str) -> str | None:
    return None if value == "-" else value


def to_raw(value: str) -> str:
    return value


@dataclass
class CompiledFormat:
    """A LogFormat compiled once; ``parse`` turns one line of text into fields."""

    logformat: str
    #: tried first on lines without a backslash (most lines): no escapes to allow for
    fast: re.Pattern[str]
    #: then quoted values with Apache's escapes, then bare quotes (``match``)
    regex: re.Pattern[str]
    lenient: re.Pattern[str] | None
    #: (field name, group index, converter) for plain fields, in format order;
    #: converter None marks the request line (4 groups) or a time item.
    plan: tuple[tuple[str, int, Callable[[str], Any] | None], ...]
    time_groups: tuple[tuple[int, str], ...]
    clf_time_group: int | None
    extra_group: int
    pieces: tuple[tuple[str, str], ...]
    has_time: bool
    _prefixes: dict[int, re.Pattern[str]] = field(default_factory=dict, repr=False)

    def convert(self, groups: tuple[str | None, ...]) -> tuple[Fields, str | None]:
        """Groups of a match -> (fields, ISO datetime or None). ValueError on a bad time."""
        fields: Fields = {}
        for name, index, conv in self.plan:
            value = groups[index]
            if conv is not None:
                fields[name] = conv(value)  # type: ignore[arg-type]
            elif name == "request":
                if value is not None:
                    fields["method"], fields["path"], fields["protocol"] = (
                        value,
                        groups[index + 1],
                        groups[index + 2],
                    )
                else:
                    method, path, protocol, unsplit = split_request(groups[index + 3] or "")
                    fields["method"], fields["path"], fields["protocol"] = method, path, protocol
                    if unsplit is not None:
                        fields["request"] = unsplit
        when: str | None = None
        if self.clf_time_group is not None:
            stamp = groups[self.clf_time_group]
            if stamp is not None and stamp != "-":
                when = clf_to_iso(stamp)
        elif self.time_groups:
            parts = {kind: groups[i] for i, kind in self.time_groups if groups[i] is not None}
            when = assemble(parts)  # type: ignore[arg-type]
        extra = groups[self.extra_group]
        if extra:
            fields["extra"] = extra.rstrip()
        return fields, when

    def match(self, text: str, pos: int = 0) -> re.Match[str] | None:
        """The fast match, the strict one, else the lenient one (for lines of modest length)."""
        found = self.fast.match(text, pos) if "\\" not in text else None
        if found is None:
            found = self.match_slow(text, pos)
        return found

    def match_slow(self, text: str, pos: int = 0) -> re.Match[str] | None:
        """The strict match, else the lenient one: for lines the fast expression refused."""
        found = self.regex.match(text, pos)
        if found is None and self.lenient is not None and len(text) <= LENIENT_MAX_CHARS:
            found = self.lenient.match(text, pos)
        return found

    def diagnose(self, text: str, pos: int = 0) -> str:
        """A short reason why ``text`` does not match: the first item that fails."""
        if len(text) <= pos:
            return "empty line"
        reached = 0
        for count in range(1, len(self.pieces) + 1):
            prefix = self._prefixes.get(count)
            if prefix is None:
                prefix = re.compile("".join(p for _, p in self.pieces[:count]), re.DOTALL)
                self._prefixes[count] = prefix
            found = prefix.match(text, pos)
            if found is None:
                what = self.pieces[count - 1][0]
                return f"expected {what} at column {reached + 1}"
            reached = found.end()
        return f"unexpected text at column {reached + 1}"


def _literal(text: str, at_end: bool) -> str:
    """Regex for literal format text (a space next to a quote may be missing)."""
    out: list[str] = []
    for i, char in enumerate(text):
        prev = text[i - 1] if i > 0 else ""
        nxt = text[i + 1] if i + 1 < len(text) else ""
        if char == " ":
            out.append(" *" if '"' in (prev, nxt) else " +")
        elif char == '"' and at_end and i == len(text) - 1:
            out.append(r'(?:"|\Z)')
        else:
            out.append(re.escape(char))
    return "".join(out)


def _is_quoted(items: list[str | Directive], index: int) -> bool:
    before = items[index - 1] if index > 0 else ""
    after = items[index + 1] if index + 1 < len(items) else ""
    return (
        isinstance(before, str)
        and before.endswith('"')
        and isinstance(after, str)
        and after.startswith('"')
    )


def _pattern(kind: Kind, quoted: str | None, follow: str | None, directive: Directive) -> str:
    """Regex for one directive.

    ``quoted`` is the quoted-value pattern when the directive sits between quotes;
    ``follow`` the regex of the literal right after it ("" at the end of the format).
    """
    if kind is Kind.INT:
        return _INT
    if kind is Kind.STATUS:
        return _STATUS
    if kind is Kind.RAW:
        return r"([X+\-])" if directive.letter == "X" else r"(\S+)"
    if kind is Kind.TIME:
        return r"(?:" + _TIME + r"|(-))" if directive.conditional else _TIME
    if kind is Kind.REQUEST:
        if quoted is not None:
            return _REQUEST_QUOTED.format(quoted)
        # unquoted: up to three words (method, target, protocol), so backtracking is bounded
        return r"(?:(?!)()()()|(\S+(?: \S+){0,2}))"
    if quoted is not None:
        return "(" + quoted + ")"
    if kind is Kind.TOKEN:
        return r"(\S+)"
    if follow == "":
        return "(.*)"
    if follow:
        # up to the first place the next literal matches, and no second guess: several
        # free-text fields in a row would otherwise backtrack in cubic time
        return "(?>(.*?)(?=" + follow + "))"
    return "(.*?)"


def _build(items: list[str | Directive], quoted_value: str) -> tuple[str, list[tuple[str, str]]]:
    """The regex source for all items, and per-item (label, regex) pieces."""
    pieces: list[tuple[str, str]] = []
    for index, item in enumerate(items):
        last = index == len(items) - 1
        if isinstance(item, str):
            label = repr(item.strip()) if item.strip() else "a space"
            pieces.append((label, _literal(item, last)))
            continue
        kind = describe(item)[1]
        if kind is Kind.TIME_FORMAT:
            regex, _ = compile_time_format(item.arg or "")
            pieces.append((item.text, regex))
            continue
        quoted = quoted_value if _is_quoted(items, index) else None
        after = items[index + 1] if not last else ""
        follow = _literal(after, index + 1 == len(items) - 1) if isinstance(after, str) else None
        pieces.append((item.text, _pattern(kind, quoted, follow, item)))
    return "".join(p for _, p in pieces), pieces


#: Whatever follows the last item of the format (extra fields) is kept, not refused.
_EXTRA = r"\s*(.*)\Z"


def compile_logformat(logformat: str) -> CompiledFormat:
    """Compile a LogFormat string (the part between the quotes in httpd.conf)."""
    items = tokenize(logformat)
    if not any(isinstance(i, Directive) for i in items):
        raise FormatError(f"no % directive in format {logformat!r}")
    source, pieces = _build(items, QUOTED)
    fast_source, _ = _build(items, PLAIN_QUOTED)
    lenient_source, _ = _build(items, LENIENT_QUOTED)
    plan: list[tuple[str, int, Callable[[str], Any] | None]] = []
    time_groups: list[tuple[int, str]] = []
    clf_time_group: int | None = None
    used: dict[str, int] = {}
    group = 0
    has_time = False
    for item in items:
        if isinstance(item, str):
            continue
        name, kind = describe(item)
        if kind is Kind.TIME:
            has_time = True
            if clf_time_group is None:
                clf_time_group = group
            group += 2 if item.conditional else 1
            continue
        if kind is Kind.TIME_FORMAT:
            has_time = True
            _, kinds = compile_time_format(item.arg or "")
            time_groups.extend((group + i, k) for i, k in enumerate(kinds))
            group += len(kinds)
            continue
        if kind is not Kind.REQUEST:
            used[name] = used.get(name, 0) + 1
            if used[name] > 1:
                name = f"{name}_{used[name]}"
        if kind is Kind.REQUEST:
            plan.append((name, group, None))
            group += 4
        elif kind is Kind.INT or kind is Kind.STATUS:
            plan.append((name, group, to_int))
            group += 1
        elif kind is Kind.RAW:
            plan.append((name, group, to_raw))
            group += 1
        else:
            plan.append((name, group, to_str))
            group += 1
    if clf_time_group is not None and time_groups:
        # %t wins; a %{...}t next to it is only matched.
        time_groups = []
    regex = re.compile(source + _EXTRA, re.DOTALL)
    if regex.groups != group + 1:
        raise FormatError(f"internal: {regex.groups} groups for {group + 1} planned")
    lenient = re.compile(lenient_source + _EXTRA, re.DOTALL) if lenient_source != source else None
    return CompiledFormat(
        logformat=logformat,
        fast=re.compile(fast_source + _EXTRA, re.DOTALL),
        regex=regex,
        lenient=lenient,
        plan=tuple(plan),
        time_groups=tuple(time_groups),
        clf_time_group=clf_time_group,
        extra_group=group,
        pieces=tuple(pieces),
        has_time=has_time,
    )

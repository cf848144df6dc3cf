"""Properties over any input: one entry per line, the raw line kept, nothing raised."""

from __future__ import annotations

import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logpipe.envelope import LogEntry, decode, encode
from logpipe.formats import LineParser
from logpipe.logs2kafka.parse import parse_stream

PARSERS = {
    name: LineParser(name, source="prop", max_line_bytes=300)
    for name in ("combined", "common", "vhost_combined", "combinedio", "error")
}
PARSERS["custom"] = LineParser(
    '%h %{A}i -> %U "%{B}i" %{%Y-%m-%d %T}t [%{msec_frac}t] %X%k', source="prop"
)
COMBINED = LineParser("combined", source="prop")
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Pieces of real lines, so the generated input gets near and past the matching paths.
FRAGMENTS = [
    "192.0.2.1",
    "2001:db8::1",
    "www.example.com:443",
    "-",
    " ",
    "  ",
    '"',
    '\\"',
    "\\\\",
    "\\x16\\x03",
    "[10/Oct/2000:13:55:36 -0700]",
    "[31/Feb/2000:13:55:36 +0000]",
    "[Fri Sep 09 10:42:29.902022 2011]",
    "[core:error]",
    '"GET / HTTP/1.1"',
    '"-"',
    '""',
    "200",
    "408",
    "2326",
    "\r",
    "\t",
    "\ufeff",
    "é",
    "\x00",
    "io<174in 204out 309906us -0>",
]
NEARLY = st.lists(st.sampled_from(FRAGMENTS), max_size=30).map("".join).map(str.encode)
LINE_BYTES = st.one_of(
    st.binary(max_size=400),
    st.text(max_size=400).map(lambda t: t.encode("utf-8")),
    NEARLY,
    st.builds(lambda a, b: a + b, NEARLY, st.binary(max_size=20)),
)


def content(line: bytes) -> bytes:
    """The line without its newline (a "\\r" before it goes with it)."""
    if line.endswith(b"\n"):
        line = line[:-1]
    if line.endswith(b"\r"):
        line = line[:-1]
    return line


def expected_log(line: bytes, max_bytes: int) -> str:
    """The line as ``log`` must hold it: newline removed, cut, non-UTF-8 as \\xHH."""
    return content(line)[:max_bytes].decode("utf-8", "backslashreplace")


@PROPERTY
@given(
    line=LINE_BYTES,
    name=st.sampled_from(sorted(PARSERS)),
    newline=st.sampled_from(["", "\n", "\r\n"]),
)
def test_any_line_gives_one_entry_with_the_raw_line(line: bytes, name: str, newline: str):
    line = line.replace(b"\n", b" ")
    parser = PARSERS[name]
    entry = parser.parse(line + newline.encode())
    assert isinstance(entry, LogEntry)
    assert entry.log == expected_log(line + newline.encode(), parser.max_line_bytes)
    assert (entry.fields is None) != (entry.parse_error is None)
    assert entry.truncated == (len(content(line + newline.encode())) > parser.max_line_bytes)
    assert entry.source == "prop"
    assert decode(encode(entry)) == entry


@PROPERTY
@given(
    data=st.lists(LINE_BYTES, max_size=12).map(b"\n".join), name=st.sampled_from(sorted(PARSERS))
)
def test_any_bytes_give_exactly_one_entry_per_line(data: bytes, name: str):
    parser = PARSERS[name]
    out = io.BytesIO()
    summary = parse_stream(io.BytesIO(data), out, parser)
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    printed = out.getvalue().split(b"\n")
    assert printed.pop() == b""
    assert summary.lines == len(printed) == len(lines)
    assert summary.parsed + summary.parse_errors == summary.lines
    for raw, message in zip(lines, printed, strict=True):
        assert decode(message).log == expected_log(raw, parser.max_line_bytes)


JSON_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=50),
)
NAME = st.text(min_size=1, max_size=20)


@st.composite
def entries(draw: st.DrawFn) -> LogEntry:
    parsed = draw(st.booleans())
    return LogEntry(
        source=draw(NAME),
        type=draw(NAME),
        datetime=draw(st.text(max_size=40)),
        log=draw(st.text(max_size=300)),
        fields=draw(st.dictionaries(st.text(max_size=20), JSON_SCALAR, max_size=12))
        if parsed
        else None,
        parse_error=None if parsed else draw(st.text(max_size=60)),
        truncated=draw(st.booleans()),
    )


@PROPERTY
@given(entry=entries())
def test_decode_of_encode_is_the_same_entry(entry: LogEntry):
    assert decode(encode(entry)) == entry


@PROPERTY
@given(line=NEARLY, name=st.sampled_from(["combined", "common", "vhost_combined", "custom"]))
def test_fast_expression_agrees_with_the_strict_one_on_lines_without_backslash(
    line: bytes, name: str
):
    text = line.decode("utf-8").replace("\\", "/")
    compiled = PARSERS[name].format
    fast, strict = compiled.fast.match(text), compiled.regex.match(text)
    assert (fast is None) == (strict is None)
    if fast is not None and strict is not None:
        assert fast.groups() == strict.groups()


def apache_escape(text: str) -> str:
    """What httpd writes for a request line or header value (ap_escape_logitem)."""
    out = []
    for byte in text.encode("utf-8"):
        char = chr(byte)
        if char in '"\\':
            out.append("\\" + char)
        elif 0x20 <= byte < 0x7F:
            out.append(char)
        else:
            out.append(f"\\x{byte:02x}")
    return "".join(out)


ESCAPED = st.text(max_size=60).map(apache_escape)
TOKEN = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=20)
HOSTS = st.one_of(st.sampled_from(["192.0.2.1", "2001:db8::1", "::1", "in24.inetnebr.com"]), TOKEN)
STAMPS = st.datetimes(
    min_value=__import__("datetime").datetime(1990, 1, 1),
    max_value=__import__("datetime").datetime(2100, 1, 1),
)
OFFSETS = st.sampled_from(["+0000", "-0700", "+0530", "-1200", "+1400"])


@st.composite
def combined_lines(draw: st.DrawFn) -> tuple[bytes, dict]:
    """A line as httpd writes the combined format, with anything in its fields."""
    host, ident, user = draw(HOSTS), draw(st.just("-") | TOKEN), draw(st.just("-") | TOKEN)
    when, offset = draw(STAMPS), draw(OFFSETS)
    stamp = when.strftime("%d/%b/%Y:%H:%M:%S ") + offset
    request = draw(st.sampled_from(["-", "GET / HTTP/1.1"]) | ESCAPED)
    status = draw(st.sampled_from(["200", "304", "408", "-"]))
    size = draw(st.sampled_from(["-", "0"]) | st.integers(0, 10**12).map(str))
    referer, agent = draw(st.just("-") | ESCAPED), draw(st.just("-") | ESCAPED)
    gap = draw(st.sampled_from([" ", ""]))  # "-""Mozilla..." is written too
    line = f'{host} {ident} {user} [{stamp}] "{request}" {status} {size} "{referer}"{gap}"{agent}"'
    expected = {
        "remote_host": None if host == "-" else host,
        "ident": None if ident == "-" else ident,
        "remote_user": None if user == "-" else user,
        "status": None if status == "-" else int(status),
        "bytes": None if size == "-" else int(size),
        "referer": None if referer == "-" else referer,
        "user_agent": None if agent == "-" else agent,
        "datetime": when.strftime("%Y-%m-%dT%H:%M:%S") + f"{offset[:3]}:{offset[3:]}",
    }
    return line.encode(), {**expected, "request_line": request}


@PROPERTY
@given(case=combined_lines())
def test_whatever_httpd_writes_in_combined_fields_comes_back(case: tuple[bytes, dict]):
    line, expected = case
    entry = COMBINED.parse(line)
    assert entry.parse_error is None, (line, entry.parse_error)
    assert entry.fields is not None
    special = ("datetime", "request_line")
    got = {k: entry.fields.get(k) for k in expected if k not in special}
    assert got == {k: v for k, v in expected.items() if k not in special}
    request = expected["request_line"]
    parts = [entry.fields[k] for k in ("method", "path", "protocol") if entry.fields[k]]
    if "request" in entry.fields:  # kept whole: it did not split
        assert entry.fields["request"] == request and parts == []
    elif request == "-":
        assert parts == []
    else:
        assert " ".join(parts) == request
    assert entry.datetime == expected["datetime"]
    assert "extra" not in entry.fields
    text = line.decode()
    if "\\" not in text:
        compiled = COMBINED.format
        assert compiled.fast.match(text).groups() == compiled.regex.match(text).groups()

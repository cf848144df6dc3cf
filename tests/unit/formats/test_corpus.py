"""Real lines from public servers (tests/data/, see tests/data/NOTICE), and messy input."""

from __future__ import annotations

import datetime as dt

import pytest

from logpipe.envelope import decode, encode, parse_datetime
from logpipe.formats import LineParser
from tests.support.paths import DATA

DATA = DATA
COMBINED_PROXY = (
    '%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" io<%Iin %Oout %Dus %X%k> '
    "fwd<%{x-forwarded-for}i>"
)
READ_AT = dt.datetime(2026, 11, 25, 8, 0, 0, tzinfo=dt.UTC)


def lines_of(name: str) -> list[bytes]:
    data = (DATA / name).read_bytes()
    assert data.endswith(b"\n")
    return data[:-1].split(b"\n")


@pytest.fixture(scope="module")
def combined_lines() -> list[bytes]:
    lines = lines_of("access-combined-real.log")
    assert len(lines) == 10_000
    return lines


def test_every_line_of_the_real_combined_corpus_parses(combined_lines: list[bytes]):
    parser = LineParser("combined", source="www2")
    statuses: dict[int, int] = {}
    methods: dict[str, int] = {}
    dash_sizes = 0
    for number, line in enumerate(combined_lines, start=1):
        entry = parser.parse(line + b"\n")
        assert entry.parse_error is None, (number, entry.parse_error)
        assert entry.fields is not None
        assert entry.log == line.decode()
        assert entry.datetime.endswith("+00:00") and entry.datetime[:4] == "2015"
        assert "request" not in entry.fields and "extra" not in entry.fields
        statuses[entry.fields["status"]] = statuses.get(entry.fields["status"], 0) + 1
        methods[entry.fields["method"]] = methods.get(entry.fields["method"], 0) + 1
        dash_sizes += entry.fields["bytes"] is None
    # the counts the data's publisher documents (tests/data/NOTICE, SOURCES)
    assert methods == {"GET": 9952, "HEAD": 42, "POST": 5, "OPTIONS": 1}
    assert statuses == {200: 9126, 304: 445, 404: 213, 301: 164, 206: 45, 500: 3, 416: 2, 403: 2}
    assert dash_sizes == 669


def test_line_8899_without_its_closing_quote_is_parsed_tolerantly(combined_lines: list[bytes]):
    line = combined_lines[8898]
    assert line.endswith(b"+http://www.google.com/bot.html")  # published without the quote
    entry = LineParser("combined").parse(line)
    assert entry.parse_error is None
    assert entry.fields is not None
    assert entry.fields["user_agent"] == (
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html"
    )
    assert entry.fields["referer"] is None
    assert entry.fields["status"] == 200
    assert entry.datetime == "2015-05-20T12:05:17+00:00"


def test_referers_with_apache_hex_escapes_are_kept_as_written(combined_lines: list[bytes]):
    parser = LineParser("combined")
    escaped = [parser.parse(line) for line in combined_lines if b"\\x" in line]
    assert len(escaped) == 3
    for entry in escaped:
        assert entry.fields is not None
        assert entry.fields["referer"].startswith("http://\\xe4\\xe5")


def test_every_encoded_line_decodes_to_the_same_entry(combined_lines: list[bytes]):
    parser = LineParser("combined", source="www2")
    for line in combined_lines[:2000]:
        entry = parser.parse(line)
        assert decode(encode(entry)) == entry


VARIED_BLOCKS = [
    pytest.param(1, 33, "combined", id="combined-1-33"),
    pytest.param(34, 81, "common", id="common-34-81"),
    pytest.param(82, 137, COMBINED_PROXY, id="combined_proxy-82-137"),
]


def test_varied_file_one_entry_per_line():
    lines = lines_of("access-varied-licensed.log")
    assert len(lines) == 137
    parser = LineParser("combined")
    entries = [parser.parse(line, read_time=READ_AT) for line in lines]
    assert len(entries) == 137
    assert [e.log for e in entries] == [line.decode() for line in lines]


@pytest.mark.parametrize(("first", "last", "fmt"), VARIED_BLOCKS)
def test_varied_block_parses_with_its_own_format(first: int, last: int, fmt: str):
    lines = lines_of("access-varied-licensed.log")[first - 1 : last]
    parser = LineParser(fmt, source="s")
    for number, line in enumerate(lines, start=first):
        entry = parser.parse(line)
        assert entry.parse_error is None, (number, entry.parse_error)
        assert entry.fields is not None
        assert "extra" not in entry.fields, (number, entry.fields)
        parse_datetime(entry.datetime)  # a real ISO 8601 time


def test_varied_ipv6_and_nasa_hosts_and_proxy_fields():
    lines = lines_of("access-varied-licensed.log")
    ipv6 = [LineParser("combined").parse(line) for line in lines[:33] if b"::" in line[:40]]
    assert len(ipv6) == 12
    assert all(e.fields and ":" in e.fields["remote_host"] for e in ipv6)
    nasa = LineParser("common").parse(lines[33])
    assert nasa.fields is not None
    assert nasa.fields["remote_host"] == "in24.inetnebr.com"
    assert nasa.datetime == "1995-08-01T00:00:01-04:00"
    proxy = LineParser(COMBINED_PROXY).parse(lines[81])
    assert proxy.fields is not None
    assert proxy.datetime == "2018-04-06T14:31:32+01:00"
    assert {k: proxy.fields[k] for k in ("bytes_received", "bytes_sent", "duration_us")} == {
        "bytes_received": 174,
        "bytes_sent": 204,
        "duration_us": 309906,
    }
    assert proxy.fields["connection_status"] == "-"
    assert proxy.fields["keepalive_requests"] == 0
    assert proxy.fields["header_x_forwarded_for"] is None


def test_a_block_in_the_wrong_format_is_flagged_not_dropped():
    lines = lines_of("access-varied-licensed.log")[81:]
    parser = LineParser("common")
    entries = [parser.parse(line) for line in lines]
    # common is a prefix of combined_proxy: the rest is kept as extra fields
    assert all(e.parse_error is None and e.fields and "extra" in e.fields for e in entries)
    entries = [LineParser("vhost_combined").parse(line, read_time=READ_AT) for line in lines]
    assert all(e.parse_error and e.fields is None for e in entries)
    assert all(e.datetime == "2026-11-25T08:00:00+00:00" for e in entries)


# --- messy input -------------------------------------------------------------------------

LINE = b'192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET /a HTTP/1.1" 200 5 "http://r/" "Agent/1.0"'


def combined(line: bytes, truncated: bool = False, read_time=None, **kwargs):
    return LineParser("combined", **kwargs).parse(line, truncated, read_time)


def test_no_space_between_quoted_fields():
    # the tutorial's own sample line: "-""Mozilla/5.0 ..."
    entry = combined(LINE.replace(b'"http://r/" "Agent', b'"-""Agent'))
    assert entry.fields is not None
    assert (entry.fields["referer"], entry.fields["user_agent"]) == (None, "Agent/1.0")


def test_escaped_quotes_and_backslashes_inside_quoted_fields():
    line = (
        b'192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET /index.php?s=\\\\think\\\\app HTTP/1.1"'
        b' 200 5 "a:1:{s:1:\\"x\\";}" "() { :; }; /bin/bash -c \\"id\\""'
    )
    entry = combined(line)
    assert entry.parse_error is None
    assert entry.fields is not None
    assert entry.fields["path"] == "/index.php?s=\\\\think\\\\app"
    assert entry.fields["referer"] == 'a:1:{s:1:\\"x\\";}'
    assert entry.fields["user_agent"] == '() { :; }; /bin/bash -c \\"id\\"'


def test_bare_quote_inside_a_field_is_tolerated():
    entry = combined(LINE.replace(b"/a HTTP", b'/a"b HTTP'))
    assert entry.fields is not None
    assert entry.fields["path"] == '/a"b'


def test_dash_request_408():
    entry = combined(b'::1 - - [10/Oct/2000:13:55:36 -0700] "-" 408 - "-" "-"')
    assert entry.fields == {
        "remote_host": "::1",
        "ident": None,
        "remote_user": None,
        "method": None,
        "path": None,
        "protocol": None,
        "status": 408,
        "bytes": None,
        "referer": None,
        "user_agent": None,
    }


def test_crlf_goes_with_the_newline():
    entry = combined(LINE + b"\r\n")
    assert entry.log == LINE.decode()
    assert entry.fields is not None and entry.fields["user_agent"] == "Agent/1.0"
    assert combined(LINE + b"\r").log == LINE.decode()


def test_utf8_bom_is_skipped_for_parsing_and_kept_in_log():
    entry = combined(b"\xef\xbb\xbf" + LINE + b"\n")
    assert entry.parse_error is None
    assert entry.fields is not None and entry.fields["remote_host"] == "192.0.2.1"
    assert entry.log == "\ufeff" + LINE.decode()


def test_trailing_extra_fields_are_kept():
    entry = combined(LINE + b' "-" 0.008 995')
    assert entry.parse_error is None
    assert entry.fields is not None and entry.fields["extra"] == '"-" 0.008 995'


def test_bytes_that_are_not_utf8_become_hex_escapes():
    entry = combined(LINE.replace(b"Agent/1.0", b"Agent \xff\xfe/1.0 caf\xc3\xa9"))
    assert entry.fields is not None
    assert entry.fields["user_agent"] == "Agent \\xff\\xfe/1.0 café"
    assert entry.log.endswith('"Agent \\xff\\xfe/1.0 café"')
    assert b"\\\\xff" in encode(entry)


def test_long_line_is_cut_and_flagged():
    long_line = LINE.replace(b"/a ", b"/" + b"a" * 5000 + b" ")
    entry = combined(long_line + b"\n", max_line_bytes=1000)
    assert entry.truncated is True
    assert entry.log == long_line[:1000].decode()
    short = combined(LINE, max_line_bytes=len(LINE))
    assert short.truncated is False and short.log == LINE.decode()


def test_truncated_from_the_caller_is_kept():
    entry = combined(LINE, truncated=True)
    assert entry.truncated is True and entry.parse_error is None


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"", "empty line"),
        (b"garbage", "expected"),
        (LINE.replace(b" 200 ", b" abc "), "expected %>s"),
        (LINE.replace(b"10/Oct", b"31/Feb"), "bad time"),
    ],
)
def test_non_matching_line_is_one_entry_with_parse_error(line: bytes, reason: str):
    entry = combined(line, source="www2", read_time=READ_AT)
    assert entry.parse_error is not None and reason in entry.parse_error
    assert len(entry.parse_error) < 120
    assert entry.fields is None
    assert entry.log == line.decode()
    assert entry.datetime == "2026-11-25T08:00:00+00:00"
    assert decode(encode(entry)) == entry


def test_parse_error_time_is_now_in_utc_with_seconds():
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    entry = combined(b"garbage")
    when = dt.datetime.fromisoformat(entry.datetime)
    assert entry.datetime.endswith("+00:00") and len(entry.datetime) == 25
    assert before <= when <= dt.datetime.now(dt.UTC)


def test_pathological_lines_finish_quickly():
    import time

    parser = LineParser("combined", max_line_bytes=256 * 1024)
    nasty = [
        b'1 - - [10/Oct/2000:13:55:36 -0700] "' + b'" "' * 4000,
        b"1 " * 100_000,
        b'1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "' + b"\\" * 100_000,
        b'"' * 200_000,
    ]
    start = time.perf_counter()
    for line in nasty:
        parser.parse(line)
    assert time.perf_counter() - start < 2.0

"""Every LogFormat directive httpd documents, one by one, and the modifiers before them."""

from __future__ import annotations

import pytest

from logpipe.formats import FormatError, LineParser, compile_logformat
from logpipe.formats.directives import Directive, tokenize

DOC_TIME = "[10/Oct/2000:13:55:36 -0700]"
DOC_ISO = "2000-10-10T13:55:36-07:00"


def parse(fmt: str, line: str | bytes):
    data = line.encode() if isinstance(line, str) else line
    # Times without an offset are local times of the parser's zone: UTC here, whatever
    # the host's (tests/unit/formats/test_zones.py covers other zones).
    return LineParser(fmt, source="test", timezone="UTC").parse(data)


def fields(fmt: str, line: str) -> dict:
    entry = parse(fmt, line)
    assert entry.parse_error is None, entry.parse_error
    assert entry.fields is not None
    return entry.fields


# (directive, text in the line, field name, value)
SINGLE = [
    ("%a", "2001:db8::1", "remote_ip", "2001:db8::1"),
    ("%{c}a", "10.0.0.2", "peer_ip", "10.0.0.2"),
    ("%A", "192.168.1.10", "local_ip", "192.168.1.10"),
    ("%B", "0", "bytes", 0),
    ("%b", "-", "bytes", None),
    ("%b", "2326", "bytes", 2326),
    ("%{session}C", "abc123", "cookie_session", "abc123"),
    ("%D", "309906", "duration_us", 309906),
    ("%{HOME}e", "/root", "env_home", "/root"),
    ("%f", "/var/www/html/index.html", "filename", "/var/www/html/index.html"),
    ("%h", "in24.inetnebr.com", "remote_host", "in24.inetnebr.com"),
    ("%h", "::1", "remote_host", "::1"),
    ("%{c}h", "10.0.0.3", "peer_host", "10.0.0.3"),
    ("%H", "HTTP/1.1", "protocol", "HTTP/1.1"),
    ("%{X-Forwarded-For}i", "203.0.113.7", "header_x_forwarded_for", "203.0.113.7"),
    (
        "%{Referer}i",
        "http://www.example.com/start.html",
        "referer",
        "http://www.example.com/start.html",
    ),
    ("%{User-agent}i", "curl/7.58", "user_agent", "curl/7.58"),
    ("%k", "3", "keepalive_requests", 3),
    ("%l", "-", "ident", None),
    ("%L", "YNoWaX8AAQEAAAgm", "request_log_id", "YNoWaX8AAQEAAAgm"),
    ("%m", "PROPFIND", "method", "PROPFIND"),
    ("%{ratio}n", "42", "note_ratio", "42"),
    ("%{Content-Type}o", "text/html", "response_header_content_type", "text/html"),
    ("%p", "443", "port", 443),
    ("%{canonical}p", "80", "port", 80),
    ("%{local}p", "8080", "local_port", 8080),
    ("%{remote}p", "51234", "remote_port", 51234),
    ("%P", "35708", "pid", 35708),
    ("%{pid}P", "35708", "pid", 35708),
    ("%{tid}P", "4328636416", "tid", 4328636416),
    ("%{hextid}P", "7f3a2c", "tid", "7f3a2c"),
    ("%q", "?a=1&b=2", "query", "?a=1&b=2"),
    ("%R", "php-fpm", "handler", "php-fpm"),
    ("%s", "302", "status", 302),
    ("%>s", "200", "status", 200),
    ("%<s", "404", "status", 404),
    ("%T", "2", "duration_s", 2),
    ("%{s}T", "2", "duration_s", 2),
    ("%{ms}T", "1500", "duration_ms", 1500),
    ("%{us}T", "1500000", "duration_us", 1500000),
    ("%u", "frank", "remote_user", "frank"),
    ("%u", "-", "remote_user", None),
    ("%U", "/apache_pb.gif", "url_path", "/apache_pb.gif"),
    ("%v", "www.example.com", "vhost", "www.example.com"),
    ("%V", "example.com", "server_name", "example.com"),
    ("%X", "X", "connection_status", "X"),
    ("%X", "+", "connection_status", "+"),
    ("%X", "-", "connection_status", "-"),  # "-" is a value here: connection closed
    ("%I", "174", "bytes_received", 174),
    ("%O", "204", "bytes_sent", 204),
    ("%S", "378", "bytes_transferred", 378),
    ("%{Grpc-Status}^ti", "0", "trailer_in_grpc_status", "0"),
    ("%{Grpc-Message}^to", "ok", "trailer_out_grpc_message", "ok"),
]


@pytest.mark.parametrize(("directive", "text", "name", "value"), SINGLE)
def test_each_directive_after_literal_text(directive: str, text: str, name: str, value: object):
    got = fields(f"at: {directive}", f"at: {text}")
    assert got[name] == value
    assert isinstance(got[name], type(value))


@pytest.mark.parametrize(("directive", "text", "name", "value"), SINGLE)
def test_each_directive_quoted_at_the_end(directive: str, text: str, name: str, value: object):
    got = fields(f'%t "{directive}"', f'{DOC_TIME} "{text}"')
    assert got[name] == value


def test_t_gives_the_datetime_with_the_line_offset():
    entry = parse("%h %t", f"192.0.2.1 {DOC_TIME}")
    assert entry.datetime == DOC_ISO
    assert "time" not in (entry.fields or {})


@pytest.mark.parametrize(
    ("stamp", "iso"),
    [
        ("[17/May/2015:10:05:03 +0000]", "2015-05-17T10:05:03+00:00"),
        ("[01/Aug/1995:00:00:01 -0400]", "1995-08-01T00:00:01-04:00"),
        ("[25/Oct/2015:04:11:25 +0100]", "2015-10-25T04:11:25+01:00"),
        ("[29/Feb/2024:23:59:59 +0530]", "2024-02-29T23:59:59+05:30"),
        ("[31/Dec/1999:00:00:00 -1200]", "1999-12-31T00:00:00-12:00"),
    ],
)
def test_t_conversion(stamp: str, iso: str):
    assert parse("%t %h", f"{stamp} h").datetime == iso


@pytest.mark.parametrize(
    "stamp",
    [
        "[31/Feb/2015:10:05:03 +0000]",  # no such day
        "[29/Feb/2023:10:05:03 +0000]",  # not a leap year
        "[17/Foo/2015:10:05:03 +0000]",  # no such month
        "[17/May/2015:24:05:03 +0000]",  # hour 24
        "[17/May/2015:10:05:03 +2400]",  # offset out of range
        "[17/May/2015 10:05:03 +0000]",  # wrong shape
    ],
)
def test_t_that_is_not_a_time_is_a_parse_error(stamp: str):
    entry = parse("%t %h", f"{stamp} h")
    assert entry.parse_error is not None
    assert entry.fields is None


@pytest.mark.parametrize(
    ("fmt", "line", "iso"),
    [
        # the example of mod_log_config's documentation
        (
            "[%{%d/%b/%Y %T}t.%{msec_frac}t %{%z}t]",
            "[10/Oct/2000 13:55:36.123 -0700]",
            "2000-10-10T13:55:36.123-07:00",
        ),
        ("%{%Y-%m-%d %H:%M:%S}t", "2000-10-10 13:55:36", "2000-10-10T13:55:36+00:00"),
        ("%{begin:%Y-%m-%dT%H:%M:%S%z}t", "2000-10-10T13:55:36+0200", "2000-10-10T13:55:36+02:00"),
        ("%{end:%d/%b/%Y:%T %z}t", "10/Oct/2000:13:55:36 -0700", "2000-10-10T13:55:36-07:00"),
        ("%{%F %R}t", "2000-10-10 13:55", "2000-10-10T13:55:00+00:00"),
        (
            "%{%a %B %e %I:%M:%S %p %Y}t",
            "Tue October 10 01:55:36 PM 2000",
            "2000-10-10T13:55:36+00:00",
        ),
        ("%{sec}t", "971211336", "2000-10-10T20:55:36+00:00"),
        ("%{msec}t", "971211336123", "2000-10-10T20:55:36.123000+00:00"),
        ("%{usec}t", "971211336123456", "2000-10-10T20:55:36.123456+00:00"),
        ("%{%s}t.%{usec_frac}t", "971211336.000001", "2000-10-10T20:55:36+00:00"),
    ],
)
def test_t_with_a_format(fmt: str, line: str, iso: str):
    entry = parse(f"{fmt} %h", f"{line} 192.0.2.1")
    assert entry.parse_error is None, entry.parse_error
    assert entry.datetime == iso


def test_r_splits_the_request_line():
    got = fields('"%r"', '"GET /apache_pb.gif?x=1 HTTP/1.0"')
    assert (got["method"], got["path"], got["protocol"]) == (
        "GET",
        "/apache_pb.gif?x=1",
        "HTTP/1.0",
    )
    assert "request" not in got


@pytest.mark.parametrize(
    ("request_line", "method", "path", "protocol"),
    [
        ("-", None, None, None),
        ("GET /", "GET", "/", None),  # HTTP/0.9
        ("CONNECT example.com:443", "CONNECT", "example.com:443", None),
        ("PRI * HTTP/2.0", "PRI", "*", "HTTP/2.0"),
        ("OPTIONS sip:nm SIP/2.0", "OPTIONS", "sip:nm", "SIP/2.0"),
        (
            "SSTP_DUPLEX_POST /sra_{BA195980-CD49-458b-9E23-C84EE0ADCD75}/ HTTP/1.1",
            "SSTP_DUPLEX_POST",
            "/sra_{BA195980-CD49-458b-9E23-C84EE0ADCD75}/",
            "HTTP/1.1",
        ),
        (
            'GET /index.php?s=<?echo(md5(\\"hi\\"));?> HTTP/1.1',
            "GET",
            '/index.php?s=<?echo(md5(\\"hi\\"));?>',
            "HTTP/1.1",
        ),
        ("GET /a b HTTP/1.1", "GET", "/a b", "HTTP/1.1"),
    ],
)
def test_r_odd_request_lines(request_line: str, method, path, protocol):
    got = fields('"%r" %>s', f'"{request_line}" 200')
    assert (got["method"], got["path"], got["protocol"]) == (method, path, protocol)
    assert "request" not in got


@pytest.mark.parametrize(
    "garbage", ["", "test", '\\x16\\x03\\x01\\x01\\"\\x01', "Gh0st\\xad", "\\n"]
)
def test_r_garbage_is_kept_whole_in_request(garbage: str):
    got = fields('"%r" %>s', f'"{garbage}" 400')
    assert got["method"] is None and got["path"] is None and got["protocol"] is None
    assert got["request"] == garbage
    assert got["status"] == 400


def test_r_unquoted():
    got = fields("%h %r %>s", "192.0.2.1 GET / HTTP/1.1 200")
    assert (got["method"], got["path"], got["protocol"], got["status"]) == (
        "GET",
        "/",
        "HTTP/1.1",
        200,
    )


def test_percent_literal():
    got = fields("%h %% %>s", "192.0.2.1 % 200")
    assert got == {"remote_host": "192.0.2.1", "status": 200}


def test_conditional_modifiers_accept_dash():
    # mod_log_config's examples: %400,501{User-agent}i and %!200,304,302{Referer}i
    fmt = '%h "%400,501{User-agent}i" "%!200,304,302{Referer}i" %>s'
    assert fields(fmt, '192.0.2.1 "-" "-" 200') == {
        "remote_host": "192.0.2.1",
        "user_agent": None,
        "referer": None,
        "status": 200,
    }
    got = fields(fmt, '192.0.2.1 "curl/8" "http://x/" 400')
    assert got["user_agent"] == "curl/8" and got["referer"] == "http://x/"


def test_conditional_numbers_and_time_accept_dash():
    got = fields("%h %200D %!200t", "192.0.2.1 - -")
    assert got == {"remote_host": "192.0.2.1", "duration_us": None}


def test_tokenize_modifiers():
    items = tokenize("%!200,304{Referer}i %<s %>s %{c}a %{X}^ti %%")
    directives = [i for i in items if isinstance(i, Directive)]
    assert [(d.letter, d.arg, d.conditional) for d in directives] == [
        ("i", "Referer", True),
        ("s", None, False),
        ("s", None, False),
        ("a", "c", False),
        ("^ti", "X", False),
    ]
    assert items[-1] == " %"


def test_same_directive_twice_gets_numbered_names():
    got = fields("%b %b", "1 2")
    assert got == {"bytes": 1, "bytes_2": 2}


@pytest.mark.parametrize(
    "bad",
    ["%Z", "%{Referer}", "%i", "%{x}T", "%h %{", "no directive here", "%h %"],
)
def test_bad_format_strings_raise_format_error(bad: str):
    with pytest.raises(FormatError):
        compile_logformat(bad)


def test_unknown_preset_name_raises_format_error():
    with pytest.raises(FormatError, match="unknown format"):
        LineParser("combinedd")

"""The presets by name, with lines from Apache's documentation and from real servers."""

from __future__ import annotations

import pytest

from logpipe.envelope import decode, encode
from logpipe.formats import PRESETS, FormatSpec, LineParser, resolve_format

# From the Apache httpd documentation ("Log Files": Common and Combined Log Format).
DOC_COMMON = (
    b'127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326'
)
DOC_COMBINED = (
    DOC_COMMON + b' "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"'
)
DOC_FIELDS = {
    "remote_host": "127.0.0.1",
    "ident": None,
    "remote_user": "frank",
    "method": "GET",
    "path": "/apache_pb.gif",
    "protocol": "HTTP/1.0",
    "status": 200,
    "bytes": 2326,
}
DOC_ISO = "2000-10-10T13:55:36-07:00"
# From the Apache 2.4 documentation ("Log Files": Error Log).
DOC_ERROR = (
    b"[Fri Sep 09 10:42:29.902022 2011] [core:error] [pid 35708:tid 4328636416] "
    b"[client 72.15.99.187] File does not exist: /usr/local/apache2/htdocs/favicon.ico"
)
DOC_ERROR_22 = (
    b"[Wed Oct 11 14:32:52 2000] [error] [client 127.0.0.1] client denied by server "
    b"configuration: /export/home/live/ap/htdocs/test"
)


def parse(fmt: str, line: bytes, **kwargs):
    return LineParser(fmt, source="www2", **kwargs).parse(line)


def test_presets_are_those_the_issue_names():
    assert {"common", "combined", "vhost_combined", "combinedio", "error"} <= set(PRESETS)


def test_common_documentation_line():
    entry = parse("common", DOC_COMMON)
    assert entry.parse_error is None
    assert entry.fields == DOC_FIELDS
    assert entry.datetime == DOC_ISO
    assert entry.type == "www_access"
    assert entry.source == "www2"
    assert entry.log == DOC_COMMON.decode()


def test_combined_documentation_line():
    entry = parse("combined", DOC_COMBINED)
    assert entry.fields == {
        **DOC_FIELDS,
        "referer": "http://www.example.com/start.html",
        "user_agent": "Mozilla/4.08 [en] (Win98; I ;Nav)",
    }
    assert entry.datetime == DOC_ISO


def test_combined_is_the_default():
    assert LineParser(None).spec.name == "combined"
    assert resolve_format(None) == resolve_format("combined")


def test_design_document_example_message():
    line = (
        b'108.162.245.143 - - [08/Aug/2018:17:44:40 +0000] "GET / HTTP/1.0" 200 31281 "-" '
        b'"curl/7.58"'
    )
    assert encode(parse("combined", line)) == (
        b'{"log":{"source":"www2","type":"www_access","datetime":"2018-08-08T17:44:40+00:00",'
        b'"log":"108.162.245.143 - - [08/Aug/2018:17:44:40 +0000] \\"GET / HTTP/1.0\\" 200 31281'
        b' \\"-\\" \\"curl/7.58\\"","fields":{"remote_host":"108.162.245.143","ident":null,'
        b'"remote_user":null,"method":"GET","path":"/","protocol":"HTTP/1.0","status":200,'
        b'"bytes":31281,"referer":null,"user_agent":"curl/7.58"}}}'
    )


def test_vhost_combined():
    # Debian's vhost_combined, with the shape of the real lines (host:port first, %O)
    line = (
        b'www.example.com:443 2001:db8::1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200'
        b' 3752 "-" "Mozilla/5.0"'
    )
    entry = parse("vhost_combined", line)
    assert entry.parse_error is None
    assert entry.fields is not None
    assert entry.fields["vhost"] == "www.example.com"
    assert entry.fields["port"] == 443
    assert entry.fields["remote_host"] == "2001:db8::1"
    assert entry.fields["bytes_sent"] == 3752
    assert entry.datetime == DOC_ISO


def test_vhost_common_documentation_format():
    entry = parse("vhost_common", b"www.example.com " + DOC_COMMON)
    assert entry.fields == {"vhost": "www.example.com", **DOC_FIELDS}


def test_combinedio():
    entry = parse("combinedio", DOC_COMBINED + b" 174 204")
    assert entry.fields is not None
    assert (entry.fields["bytes_received"], entry.fields["bytes_sent"]) == (174, 204)


def test_referer_and_agent_documentation_formats():
    entry = parse("referer", b"http://www.example.com/start.html -> /apache_pb.gif")
    assert entry.fields == {
        "referer": "http://www.example.com/start.html",
        "url_path": "/apache_pb.gif",
    }
    entry = parse("agent", b"Mozilla/4.08 [en] (Win98; I ;Nav)")
    assert entry.fields == {"user_agent": "Mozilla/4.08 [en] (Win98; I ;Nav)"}


def test_error_log_24_documentation_line():
    entry = parse("error", DOC_ERROR, timezone="UTC")
    assert entry.parse_error is None
    assert entry.type == "www_error"
    assert entry.datetime == "2011-09-09T10:42:29.902022+00:00"
    assert entry.fields == {
        "module": "core",
        "level": "error",
        "pid": 35708,
        "tid": 4328636416,
        "remote_host": "72.15.99.187",
        "remote_port": None,
        "error_code": None,
        "message": "File does not exist: /usr/local/apache2/htdocs/favicon.ico",
    }


def test_error_log_22_documentation_line():
    entry = parse("error", DOC_ERROR_22, timezone="UTC")
    assert entry.datetime == "2000-10-11T14:32:52+00:00"
    assert entry.fields is not None
    assert entry.fields["level"] == "error"
    assert entry.fields["module"] is None
    assert entry.fields["remote_host"] == "127.0.0.1"


def test_error_log_with_os_error_code_port_and_referer():
    line = (
        b"[Mon Jan 01 00:00:00.000001 2024] [proxy:error] [pid 1:tid 2] (111)Connection refused: "
        b"[client ::1:58619] AH00957: HTTP: attempt to connect to 127.0.0.1:8080 failed, "
        b"referer: http://example.com/"
    )
    entry = parse("error", line)
    assert entry.fields == {
        "module": "proxy",
        "level": "error",
        "pid": 1,
        "tid": 2,
        "os_errno": 111,
        "os_error": "Connection refused",
        "remote_host": "::1",
        "remote_port": 58619,
        "error_code": "AH00957",
        "message": "HTTP: attempt to connect to 127.0.0.1:8080 failed",
        "referer": "http://example.com/",
    }


def test_error_log_rejects_access_lines():
    entry = parse("error", DOC_COMMON)
    assert entry.parse_error is not None


def test_type_can_be_overridden():
    assert parse("combined", DOC_COMBINED, type="www2_access").type == "www2_access"


@pytest.mark.parametrize(
    "given",
    [
        '%h %l %u %t "%r" %>s %b',  # already unquoted
        '%h %l %u %t \\"%r\\" %>s %b',  # as written between the quotes in httpd.conf
        '"%h %l %u %t \\"%r\\" %>s %b"',  # with the quotes
        'LogFormat "%h %l %u %t \\"%r\\" %>s %b" common',  # the whole httpd.conf line
    ],
)
def test_format_strings_copied_from_httpd_conf(given: str):
    spec = resolve_format(given)
    assert spec == FormatSpec("custom", PRESETS["common"], "www_access")
    assert parse(given, DOC_COMMON).fields == DOC_FIELDS


def test_combined_fast_path_and_generic_compiler_agree():
    from logpipe.formats.logformat import CompiledFormat

    fast = LineParser("combined")
    generic = LineParser("combined")
    generic._convert = CompiledFormat.convert.__get__(generic.format)  # type: ignore[attr-defined]
    lines = [
        DOC_COMBINED,
        b'::1 - - [10/Oct/2000:13:55:36 -0700] "-" 408 - "-" "-"',
        b'1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "\\x16\\x03\\x01" 400 0 "-" "-" trailing',
    ]
    for line in lines:
        a, b = fast.parse(line), generic.parse(line)
        assert a == b
        assert a.parse_error is None


def test_round_trip_through_the_envelope():
    entry = parse("combined", DOC_COMBINED)
    assert decode(encode(entry)) == entry

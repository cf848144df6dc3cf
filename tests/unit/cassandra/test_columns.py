"""Which column holds which parsed field, for lines parsed by logpipe's own parser."""

from __future__ import annotations

import re

from logpipe.cassandra import schema_text
from logpipe.cassandra.columns import FIELD_COLUMNS, field_values
from logpipe.formats.parser import LineParser


def parse(fmt: str, line: str):
    return LineParser(fmt, timezone="UTC").parse(line.encode())


def test_combined_line():
    entry = parse(
        "combined",
        '83.149.9.216 - bob [17/May/2015:10:05:03 +0000] "GET /a/b.png?x=1&y=2 HTTP/1.1" 200 '
        '203023 "http://semicomplete.com/" "Mozilla/5.0"',
    )
    assert field_values(entry.fields, entry.parse_error) == {
        "status": 200,
        "method": "GET",
        "path": "/a/b.png",
        "query": "?x=1&y=2",
        "protocol": "HTTP/1.1",
        "bytes": 203023,
        "referer": "http://semicomplete.com/",
        "user_agent": "Mozilla/5.0",
        "client": "83.149.9.216",
        "remote_user": "bob",
    }


def test_dashes_are_left_out_not_written_as_nulls():
    entry = parse("combined", '1.2.3.4 - - [17/May/2015:10:05:03 +0000] "-" 408 - "-" "-"')
    assert field_values(entry.fields) == {"status": 408, "client": "1.2.3.4"}


def test_vhost_combined_takes_bytes_from_O_and_keeps_port():
    entry = parse(
        "vhost_combined",
        'www.example.com:443 10.0.0.1 - - [17/May/2015:10:05:03 +0000] "POST /api HTTP/2.0" '
        '201 512 "-" "curl/8"',
    )
    values = field_values(entry.fields)
    assert values["vhost"] == "www.example.com"
    assert values["port"] == 443
    assert values["bytes"] == 512
    assert values["method"] == "POST"
    assert "other_fields" not in values


def test_custom_format_duration_query_and_other_fields():
    fmt = '%a %h %u %t "%m %U %H" %q %>s %B %D "%{X-Forwarded-For}i" %{ms}T'
    entry = parse(
        fmt,
        '10.0.0.9 proxy.local - [17/May/2015:10:05:03 +0000] "GET /api/v1 HTTP/1.1" ?k=v 500 '
        '17 532000 "203.0.113.7" 532',
    )
    values = field_values(entry.fields)
    assert values["client"] == "10.0.0.9"  # %a before %h
    assert values["path"] == "/api/v1"
    assert values["query"] == "?k=v"
    assert values["duration_us"] == 532000  # %D wins over %{ms}T
    assert values["other_fields"] == {
        "remote_host": "proxy.local",
        "header_x_forwarded_for": "203.0.113.7",
        "duration_ms": "532",
    }


def test_duration_in_milliseconds_or_seconds_becomes_microseconds():
    assert field_values({"duration_ms": 7})["duration_us"] == 7000
    assert field_values({"duration_s": 2})["duration_us"] == 2_000_000


def test_error_log_line():
    entry = parse(
        "error",
        "[Sun May 17 10:05:03.123456 2015] [proxy:error] [pid 4242:tid 1400] "
        "[client 10.1.2.3:51234] AH00898: Error reading from remote server",
    )
    values = field_values(entry.fields)
    assert values["level"] == "error"
    assert values["module"] == "proxy"
    assert values["pid"] == 4242
    assert values["client"] == "10.1.2.3"
    assert values["other_fields"]["error_code"] == "AH00898"
    assert values["other_fields"]["remote_port"] == "51234"


def test_unparsed_line_has_its_reason_only():
    entry = parse("combined", "garbage that is no access log line")
    assert entry.parse_error
    assert field_values(entry.fields, entry.parse_error) == {"parse_error": entry.parse_error}


def test_values_outside_a_column_type_go_to_the_map():
    values = field_values({"status": 200, "port": 2**40, "bytes": True, "pid": "12"})
    assert values["status"] == 200
    assert "port" not in values and "bytes" not in values and "pid" not in values
    assert values["other_fields"] == {"port": str(2**40), "bytes": "true", "pid": "12"}


def test_schema_file_adds_exactly_the_field_columns():
    text = " ".join(schema_text().split())
    added = re.search(r"ALTER TABLE admintome\.logs ADD IF NOT EXISTS \((.*?)\);", text + ";")
    assert added is not None
    declared = [" ".join(part.split()) for part in re.split(r",\s(?![^<]*>)", added.group(1))]
    assert declared == [f"{name} {cql}" for name, cql in FIELD_COLUMNS]

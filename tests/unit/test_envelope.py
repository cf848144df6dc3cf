"""The Kafka message: our form, the tutorial's older form, and what is refused and why."""

from __future__ import annotations

import datetime as dt
import json

import orjson
import pytest

from logpipe.envelope import (
    EnvelopeError,
    LogEntry,
    decode,
    encode,
    line_id_offset,
    parse_datetime,
)

ENTRY = LogEntry(
    source="www2",
    type="www_access",
    datetime="2018-08-08T17:44:40+00:00",
    log='108.162.245.143 - - [08/Aug/2018:17:44:40 +0000] "GET / HTTP/1.0" 200 31281',
    fields={"remote_host": "108.162.245.143", "status": 200, "referer": None},
)


def test_encode_is_compact_utf8_json_once_in_design_order():
    value = encode(ENTRY)
    assert value.startswith(b'{"log":{"source":"www2","type":"www_access","datetime":')
    assert b": " not in value and b", " not in value.split(b'"log":"')[0]
    doc = json.loads(value)
    assert list(doc["log"]) == ["source", "type", "datetime", "log", "fields"]
    assert doc["log"]["fields"]["referer"] is None


def test_parse_error_replaces_fields_and_truncated_appears_only_when_set():
    bad = LogEntry("s", "t", "2026-11-25T08:00:00+00:00", "x", parse_error="empty", truncated=True)
    doc = json.loads(encode(bad))["log"]
    assert "fields" not in doc and doc["parse_error"] == "empty" and doc["truncated"] is True
    assert "truncated" not in json.loads(encode(ENTRY))["log"]


def test_round_trip():
    assert decode(encode(ENTRY)) == ENTRY


def test_non_ascii_and_escapes_round_trip():
    entry = LogEntry("s", "t", "d", 'caf\u00e9 \\xff \\" \u2013', fields={"u": "\\xe4"})
    assert decode(encode(entry)) == entry


def tutorial_message(line: str) -> bytes:
    """What the tutorial's forwarder put in Kafka: json.dumps of json.dumps."""
    entry = {
        "datetime": "2018-08-08 17:44",
        "source": "www2",
        "type": "www_access",
        "log": f"'{line}'",
    }
    return json.dumps(json.dumps({"log": entry})).encode()


def test_tutorial_legacy_form_is_accepted():
    line = '108.162.245.143 - - [08/Aug/2018:17:44:40 +0000] "GET / HTTP/1.0" 200 31281'
    entry = decode(tutorial_message(line))
    assert entry.legacy is True
    assert entry.log == line  # the single quotes it wrapped the line in are gone
    assert entry.source == "www2" and entry.type == "www_access"
    assert entry.datetime == "2018-08-08 17:44"
    assert entry.fields is None and entry.parse_error is None
    assert parse_datetime(entry.datetime) == dt.datetime(2018, 8, 8, 17, 44, tzinfo=dt.UTC)


def test_parse_datetime_keeps_the_offset():
    when = parse_datetime("2000-10-10T13:55:36-07:00")
    assert when.utcoffset() == dt.timedelta(hours=-7)
    assert parse_datetime("2011-09-09T10:42:29.902022").tzinfo is dt.UTC


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"not json at all", "not JSON"),
        (b"", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not an object"),
        (b"42", "not an object"),
        (b'"just a string"', "holds no JSON"),
        (b'{"other": 1}', "key 'log' missing"),
        (b'{"log": "a line"}', "not an object"),
        (b'{"log": {"type": "t", "datetime": "d", "log": "x"}}', "'log.source' missing"),
        (b'{"log": {"source": 7, "type": "t", "datetime": "d", "log": "x"}}', "not a string"),
        (b'{"log": {"source": "", "type": "t", "datetime": "d", "log": "x"}}', "empty"),
        (b'{"log": {"source": "s", "type": "t", "datetime": "d"}}', "'log.log' missing"),
        (
            b'{"log": {"source": "s", "type": "t", "datetime": "d", "log": "x", "fields": []}}',
            "not an object",
        ),
        (
            b'{"log": {"source": "s", "type": "t", "datetime": "d", "log": "x", "truncated": 1}}',
            "not a boolean",
        ),
        (None, "null"),
    ],
)
def test_decode_says_what_is_wrong(value: bytes | None, reason: str):
    with pytest.raises(EnvelopeError, match=reason):
        decode(value)


def test_too_large_is_refused_before_parsing():
    big = orjson.dumps({"log": {"source": "s", "type": "t", "datetime": "d", "log": "x" * 200}})
    with pytest.raises(EnvelopeError, match="too large"):
        decode(big, max_bytes=100)
    assert decode(big, max_bytes=len(big)).log == "x" * 200


def test_envelope_error_is_a_value_error():
    assert issubclass(EnvelopeError, ValueError)


def test_the_line_id_round_trips_last_in_the_envelope():
    entry = LogEntry("s", "t", "d", "x", fields={}, truncated=True, line_id="0123abcd4567ef89:1024")
    value = encode(entry)
    doc = json.loads(value)["log"]
    assert list(doc) == ["source", "type", "datetime", "log", "fields", "truncated", "id"]
    assert doc["id"] == "0123abcd4567ef89:1024"
    assert decode(value) == entry
    assert line_id_offset(decode(value).line_id) == 1024


def test_an_envelope_without_id_is_still_read():
    assert "id" not in json.loads(encode(ENTRY))["log"]
    assert decode(encode(ENTRY)).line_id is None


@pytest.mark.parametrize("bad", [42, "", "abc", "0123456789abcdef", "0123456789abcdef:-1", "zz:1"])
def test_a_malformed_id_is_refused(bad):
    doc = {"log": {"source": "s", "type": "t", "datetime": "d", "log": "x", "id": bad}}
    with pytest.raises(EnvelopeError, match=r"log\.id"):
        decode(orjson.dumps(doc))

"""Cutting an oversized envelope so the whole message fits the topic's limit."""

from __future__ import annotations

import pytest

from logpipe.envelope import LogEntry, decode, encode
from logpipe.formats import LineParser
from logpipe.logs2kafka.fit import CUT_REASON, fit

PARSER = LineParser(fmt="combined", source="www1", max_line_bytes=1024 * 1024)


def test_nul_line_grows_six_times_and_is_cut_to_the_limit():
    entry = PARSER.parse(b"\x00" * 256 * 1024)
    assert len(encode(entry)) > 1_500_000  # the crash of issue 12: 6x when escaped
    value = fit(entry, 10_000)
    assert value is not None and 10_000 - 6 < len(value) <= 10_000  # no room for one more
    cut = decode(value)
    assert cut.truncated and cut.parse_error == CUT_REASON and cut.fields is None
    assert cut.log == "\x00" * len(cut.log)
    assert (cut.source, cut.type, cut.datetime) == (entry.source, entry.type, entry.datetime)


def test_invalid_utf8_is_cut_keeping_its_escapes_visible():
    entry = PARSER.parse(b"\xc3\x28" * 128 * 1024)
    value = fit(entry, 5000)
    assert value is not None and len(value) <= 5000
    assert decode(value).log.startswith("\\xc3(\\xc3(")


def test_parsed_line_loses_fields_that_no_longer_describe_it():
    line = (
        '1.2.3.4 - - [25/Nov/2026:08:00:00 +0000] "GET /' + "a" * 3000 + ' HTTP/1.1" 200 5 "-" "ua"'
    ).encode()
    entry = PARSER.parse(line)
    assert entry.fields is not None
    entry.line_id = "00ff00ff:42"
    cut = decode(fit(entry, 2000) or b"")
    assert cut.fields is None and cut.truncated and cut.line_id == "00ff00ff:42"
    assert line.decode().startswith(cut.log) and len(cut.log) > 1500
    assert cut.datetime == "2026-11-25T08:00:00+00:00"  # the request time stays


@pytest.mark.parametrize("limit", [400, 1000, 4096, 65_536])
def test_result_is_the_longest_prefix_that_fits(limit):
    entry = LogEntry("h", "www_access", "2026-01-01T00:00:00+00:00", 'é\x00x\\"' * 20_000)
    value = fit(entry, limit)
    assert value is not None and len(value) <= limit
    kept = decode(value).log
    longer = LogEntry(
        "h",
        "www_access",
        entry.datetime,
        entry.log[: len(kept) + 1],
        parse_error=CUT_REASON,
        truncated=True,
    )
    assert len(encode(longer)) > limit


def test_no_room_even_for_an_empty_line():
    entry = LogEntry("h" * 500, "www_access", "2026-01-01T00:00:00+00:00", "x")
    assert fit(entry, 300) is None

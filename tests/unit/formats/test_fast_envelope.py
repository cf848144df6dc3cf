"""The compiled envelope encoder gives, for every line it takes, the very bytes and time
the Python parser and encoder give; every other line it leaves to them.

The Python path (``LineParser.parse`` + ``envelope.encode``) is the reference: these
tests compare the two on every line of the repository's real logs and on generated lines
built from the pieces where the combined format's rules bite (quotes, dashes, spaces,
digit counts, dates that do not exist, what follows the user agent, bytes that are not
printable ASCII).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logpipe.envelope import encode
from logpipe.formats import LineParser, fast_envelope
from tests.support.paths import DATA, ROOT

PROPERTY = settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def reference(parser: LineParser, line: bytes, line_id: str | None) -> tuple[bytes, str]:
    entry = parser.parse(line)
    entry.line_id = line_id
    return encode(entry), entry.datetime


def same_or_declined(parser: LineParser, line: bytes, line_id: str | None = "12:345") -> bool:
    """Whether the compiled path took the line (asserting it matches the reference)."""
    found = parser.envelope(line, line_id)
    if found is None:
        return False
    assert found == reference(parser, line, line_id), line
    assert parser.parse(line).parse_error is None
    return True


def test_the_install_built_the_compiled_encoder():
    # `pip install` compiles it where a C compiler is, as on every machine the project's
    # make targets run on; without it the Python path below would be all there is.
    assert fast_envelope.AVAILABLE
    assert LineParser("combined").envelope is not fast_envelope.none


def test_without_a_c_compiler_the_build_goes_on_without_it(tmp_path):
    built = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "-b", tmp_path / "lib", "-t", tmp_path],
        cwd=ROOT,
        env={**os.environ, "CC": "false"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stderr
    assert 'building extension "logpipe.formats._combined" failed' in built.stderr
    assert not list((tmp_path / "lib").rglob("_combined*"))


def test_without_the_compiled_encoder_every_line_is_left_to_the_parser(monkeypatch):
    monkeypatch.setattr(fast_envelope, "_combined", None)
    assert fast_envelope.combined("www1", "www_access", 65536) is fast_envelope.none


@pytest.mark.parametrize("name", ["access-combined-real.log", "access-varied-licensed.log"])
def test_every_real_line_it_takes_is_encoded_as_the_python_path_encodes_it(name):
    parser = LineParser("combined", source="www1")
    lines = (DATA / name).read_bytes().splitlines(keepends=True)
    taken = sum(same_or_declined(parser, line, f"7:{i}") for i, line in enumerate(lines))
    if name == "access-combined-real.log":
        assert taken >= 0.95 * len(lines)  # the common line is the one it is for
    else:
        assert taken > 0


def test_the_envelope_head_is_encoded_as_the_encoder_encodes_it():
    parser = LineParser("combined", source='we"b\\1 ü\u2028', type="www_\x01access")
    line = b'192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5 "-" "ua"\r\n'
    assert same_or_declined(parser, line)
    assert same_or_declined(parser, line, None)


def test_lines_it_is_not_sure_of_are_left_to_the_parser():
    parser = LineParser("combined", max_line_bytes=120)
    good = b'192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5 "-" "ua"'
    assert parser.envelope(good, None) is not None
    for line in (
        good + b" extra",  # something after the user agent: the parser keeps it
        good.replace(b"ua", b"\xc3\xbc"),  # not ASCII
        good.replace(b"ua", b"u\\a"),  # an escape
        good.replace(b"ua", b"u\ta"),  # a control character
        good.replace(b"GET / HTTP/1.1", b"\\x16\\x03"),  # a request that does not split
        good.replace(b"GET / HTTP/1.1", b"-"),
        good.replace(b"10/Oct", b"31/Sep"),  # no such date
        good.replace(b"10/Oct/2000", b"29/Feb/1900"),
        good.replace(b"Oct", b"Okt"),
        good.replace(b" 200 ", b" 2000 "),
        good[:-1],  # the user agent's quote missing
        good + b"x" * 60,  # longer than max_line_bytes
        b"",
        b"\n",
    ):
        assert parser.envelope(line, None) is None, line
    assert parser.envelope(good, "id\u00e9") is None  # an id it would have to escape
    assert LineParser("common").envelope is fast_envelope.none
    assert LineParser("error").envelope is fast_envelope.none


PIECES = st.sampled_from(
    [
        "192.0.2.1", "2001:db8::1", "-", " ", "  ", '"', "[", "]", "x\"y", "GET", "get",
        "ABCDEFGHIJKLMNOPQRSTU", "/", "/a?b=c", "HTTP/1.1", "HTTP/2.0", "HTTP/1.10",
        "200", "000", "2000", "20", "0", "007", "123456789012345678", "1234567890123456789",
        "[10/Oct/2000:13:55:36 -0700]", "[29/Feb/2000:23:59:59 +1459]",
        "[29/Feb/2100:00:00:00 +0000]", "[00/Jan/2000:00:00:00 +0000]",
        "[31/Dec/0000:00:00:00 +0000]", "[01/Jan/0001:24:00:00 +0000]",
        "[10/oct/2000:13:55:36 -0700]", "[10/Oct/2000:13:55:36 -2400]",
        "http://example.com/", "Mozilla/5.0 (X11)", "\\", "\t", "\r", "é", "\x7f",
    ]
)  # fmt: skip


@st.composite
def combined_like(draw: st.DrawFn) -> bytes:
    """Lines in the combined format's shape, each part drawn from pieces near its edges."""

    def part(*fixed: str) -> str:
        joined = st.lists(PIECES, max_size=3).map("".join)
        return draw(st.one_of(st.sampled_from(fixed), PIECES, joined))

    sep = lambda: draw(st.sampled_from([" ", "  ", ""]))  # noqa: E731
    text = (
        part("192.0.2.1", "-") + sep() + part("-") + sep() + part("-", "frank") + sep()
        + part("[10/Oct/2000:13:55:36 -0700]") + sep() + '"'
        + part("GET") + draw(st.sampled_from([" ", "", "  "])) + part("/", "/a b")
        + draw(st.sampled_from([" ", ""])) + part("HTTP/1.1") + '"' + sep()
        + part("200", "-") + sep() + part("2326", "-") + sep()
        + '"' + part("-", "http://example.com/") + '"' + sep()
        + '"' + part("Mozilla/5.0 (X11)", "-") + draw(st.sampled_from(['"', '" ', ""]))
        + draw(st.sampled_from(["", "", " tail", "\r\n", "\n", "\r"]))
    )  # fmt: skip
    return text.encode()


GENERATED = LineParser("combined", source="gen", max_line_bytes=160)


@PROPERTY
@given(combined_like(), st.one_of(st.none(), st.sampled_from(["0:0", "99:12345"])))
def test_generated_lines_are_encoded_as_the_python_path_encodes_them_or_left_to_it(line, line_id):
    same_or_declined(GENERATED, line, line_id)

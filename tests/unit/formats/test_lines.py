"""The one line splitter (tail, ship, parse): whatever the chunks, budgets and line lengths,
every line comes out once, in order, cut at max_line_bytes, with the offset after its newline."""

from __future__ import annotations

import io

from hypothesis import example, given, settings
from hypothesis import strategies as st

from logpipe.formats.lines import LineSplitter, read_lines
from logpipe.formats.stream import iter_lines

# Lengths drawn evenly (not mostly short); "\r" is likely so CRLF lines are covered.
line_bytes = st.builds(
    lambda n, noise: (noise + b"x" * n)[:n].replace(b"\n", b"."),
    st.integers(0, 40),
    st.binary(max_size=4) | st.just(b"ab\r") | st.just(b"\r"),
)


def expected(content: bytes, limit: int) -> list[tuple[bytes, bool, int]]:
    out, end = [], 0
    pieces = content.split(b"\n")
    last = pieces.pop()
    for piece in pieces:
        end += len(piece) + 1
        out.append((piece[:limit], len(piece) > limit, end))
    if last:
        out.append((last[:limit], len(last) > limit, len(content)))
    return out


@settings(max_examples=150, deadline=None)
@given(
    lines=st.lists(line_bytes, max_size=25),
    tail=line_bytes,
    limit=st.integers(1, 30),
    cuts=st.lists(st.integers(0, 10_000), max_size=8),
    budgets=st.lists(st.integers(1, 5), min_size=1, max_size=4),
)
@example([b"abcdef", b"xyz"], b"", 2, [3], [1])  # the line after a long one, same chunk
@example([b"ab", b"abc", b"a", b""], b"ab", 2, [4], [2])  # exactly max, max + 1, under
def test_any_feeding_gives_every_line_once(lines, tail, limit, cuts, budgets):
    content = b"".join(line + b"\n" for line in lines) + tail
    splitter = LineSplitter(limit)
    got: list[tuple[bytes, bool, int]] = []
    fed, turn = 0, 0
    for cut in [*sorted(c % (len(content) + 1) for c in cuts), len(content)]:
        if cut > fed:
            splitter.feed(content[fed:cut])
            fed = cut
        while True:
            room = budgets[turn % len(budgets)]
            turn += 1
            batch = splitter.take(room)
            taken = list(zip(batch.data, batch.truncated, batch.ends, strict=True))
            assert len(taken) <= room
            got += taken
            if not taken:
                break
            assert len(splitter.buf) <= max(limit, len(content))
    assert not splitter.has_lines
    batch = splitter.finish()
    got += zip(batch.data, batch.truncated, batch.ends, strict=True)
    assert got == expected(content, limit)
    assert not splitter.has_partial and splitter.start == splitter.end == len(content)


@settings(max_examples=100, deadline=None)
@given(lines=st.lists(line_bytes, max_size=25), tail=line_bytes, limit=st.integers(1, 30))
def test_whole_streams_in_any_chunk_size(lines, tail, limit):
    content = b"".join(line + b"\n" for line in lines) + tail
    want = [(data, cut) for data, cut, _ in expected(content, limit)]
    for chunk_bytes in (1, 3, 64):
        assert list(read_lines(io.BytesIO(content), limit, chunk_bytes)) == want


@settings(max_examples=100, deadline=None)
@given(lines=st.lists(line_bytes, max_size=25), tail=line_bytes, limit=st.integers(1, 30))
@example([b"x" * 5 + b"\r", b"y" * 6, b"z" * 5 + b"\r\r", b"\r"], b"w" * 5 + b"\r", 5)
def test_parse_input_leaves_a_crlf_to_the_parser(lines, tail, limit):
    """What the parser makes of ``iter_lines``: the line without its "\\r", cut at
    max_line_bytes, flagged only when the line itself (not its "\\r\\n") is longer."""
    content = b"".join(line + b"\n" for line in lines) + tail
    parsed = []
    for line, cut in iter_lines(io.BytesIO(content), limit):
        line = line[:-1] if line[-1:] == b"\r" else line  # as LineParser.parse
        parsed.append((line[:limit], cut or len(line) > limit))
    want = []
    for line in [*lines, tail] if tail else lines:
        text = line[:-1] if line[-1:] == b"\r" else line
        want.append((text[:limit], len(text) > limit))
    assert parsed == want


def test_a_line_started_before_us_is_dropped_and_its_end_noted():
    splitter = LineSplitter(10, 100, discard_first_line=True)
    splitter.feed(b"rest of a line\nnext\n")
    batch = splitter.take()
    assert (batch.data, list(batch.ends)) == ([b"next"], [120])
    assert splitter.skipped == [115]


def test_the_bytes_before_the_position_are_kept():
    splitter = LineSplitter(100, keep=4, before=b"123456")
    assert splitter.before == b"3456"
    splitter.feed(b"ab\ncd")
    splitter.take()
    assert splitter.before == b"6ab\n"
    splitter.finish()
    assert splitter.before == b"b\ncd"

"""A line's id depends on its file's content and offset only: the tailer (however the file
grew, after a restart, in a copytruncate copy) and ``ship`` (plain or gzip) agree."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logpipe.logs2kafka.line_ids import ID_HEAD_BYTES, read_lines_with_ids
from logpipe.logs2kafka.ship import SourceFile
from logpipe.logs2kafka.tail.identity import Fingerprint
from logpipe.logs2kafka.tail.reader import FileReader
from tests.support import strategies
from tests.support.tailkit import Collector, make_tailer, seq_line, seqs


def expected_ids(content: bytes) -> list[str]:
    """The ids by their definition: digest of the first min(1 KiB, line end) bytes and
    the line's start offset (a last line without a newline counts)."""
    ids, start = [], 0
    while start < len(content):
        nl = content.find(b"\n", start)
        end = len(content) if nl < 0 else nl + 1
        head = content[: min(ID_HEAD_BYTES, end)]
        ids.append(f"{hashlib.blake2b(head, digest_size=8).hexdigest()}:{start}")
        start = end
    return ids


def lines(a: int, b: int) -> bytes:
    return b"".join(seq_line(n) for n in range(a, b))


def append(path: Path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


def shipped_ids(path: Path) -> list[str]:
    src = SourceFile(path)
    try:
        return [line_id for _data, _cut, line_id in read_lines_with_ids(src.stream, 256 * 1024)]
    finally:
        src.close()


line_bytes = strategies.line_bytes(300)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.lists(line_bytes, max_size=25),
    tail=line_bytes,
    max_line_bytes=st.integers(1, 120),
    chunk_bytes=st.integers(1, 400),
    budget=st.integers(1, 5),
    cuts=st.lists(st.integers(0, 10_000), max_size=6),
)
def test_tailer_reader_and_ship_give_the_ids_of_the_definition(
    body, tail, max_line_bytes, chunk_bytes, budget, cuts
):
    """Whatever the line lengths (cut or not), chunk size, line budget and write pattern."""
    content = b"".join(line + b"\n" for line in body) + tail
    complete = content[: content.rfind(b"\n") + 1]
    stream = io.BytesIO(content)
    assert [i for _d, _t, i in read_lines_with_ids(stream, max_line_bytes, chunk_bytes)] == (
        expected_ids(content)
    )
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"line-ids-{os.getpid()}.log"
    tmp.write_bytes(b"")
    fd = os.open(tmp, os.O_RDONLY)
    reader = FileReader(
        str(tmp),
        fd,
        os.fstat(fd),
        "id",
        0,
        Fingerprint(),
        max_line_bytes=max_line_bytes,
        chunk_bytes=chunk_bytes,
        now=time.monotonic(),
    )
    got: list = []
    written = 0
    try:
        for cut in [*sorted(c % (len(content) + 1) for c in cuts), len(content)]:
            if cut > written:
                append(tmp, content[written:cut])
                written = cut
            while True:
                reader.refresh_size()
                batch: list = []
                reader.read(batch, budget, time.monotonic())
                if not batch:
                    break
                got += batch
        reader.flush_partial(got)
    finally:
        reader.close()
        tmp.unlink()
    ids = [line.line_id for line in got]
    assert ids == expected_ids(content)
    assert ids[: len(expected_ids(complete))] == expected_ids(complete)


def test_ids_of_a_short_file_do_not_change_as_it_grows(tmp_path):
    """Lines read one by one while the file is under 1 KiB keep the ids they have once
    the file is large (what ``ship`` of the finished file computes)."""
    log = tmp_path / "access.log"
    log.write_bytes(b"")
    tailer = make_tailer(str(log), tmp_path / "state", from_beginning=True)
    c = Collector(tailer)
    for n in range(160):
        append(log, seq_line(n))
        c.until(lambda n=n: len(c.lines) == n + 1)
    tailer.close()
    assert log.stat().st_size > 2 * ID_HEAD_BYTES
    ids = [line.line_id for line in c.lines]
    assert ids == expected_ids(log.read_bytes()) == shipped_ids(log)
    assert len(set(ids)) == 160
    early = [i for i, line in enumerate(c.lines) if line.end_offset < ID_HEAD_BYTES]
    assert 5 < len(early) < 160  # both kinds of line were met


@pytest.mark.parametrize("acked", [10, 70])  # a checkpoint inside the first KiB, one past it
def test_ids_after_a_restart_inside_and_past_the_first_kib(tmp_path, acked):
    """Lines sent again after a restart (from a checkpoint, mid-file) get the same ids."""
    log = tmp_path / "access.log"
    log.write_bytes(lines(0, 120))
    tailer = make_tailer(str(log), tmp_path / "state", from_beginning=True)
    first = tailer.poll()
    for line in first[:acked]:
        tailer.ack(line.file_id, line.end_offset)
    tailer.close()
    assert (first[acked - 1].end_offset < ID_HEAD_BYTES) == (acked == 10)
    again = make_tailer(str(log), tmp_path / "state", from_beginning=True)
    c = Collector(again)
    c.until(lambda: len(c.lines) == 120 - acked)
    again.close()
    assert seqs(c.lines)[0] == acked
    assert [line.line_id for line in c.lines] == [line.line_id for line in first[acked:]]
    assert [line.line_id for line in first] == expected_ids(log.read_bytes())


def test_a_copytruncate_copy_and_its_gzip_give_the_ids_the_original_gave(tmp_path):
    log = tmp_path / "access.log"
    log.write_bytes(lines(0, 100))
    tailer = make_tailer(str(tmp_path / "access.log*"), tmp_path / "state", from_beginning=True)
    c = Collector(tailer)
    c.until(lambda: len(c.lines) == 100)
    append(log, lines(100, 150))  # not read yet when logrotate copies and truncates
    copy = tmp_path / "access.log.1"
    shutil.copyfile(log, copy)
    os.truncate(log, 0)
    append(log, lines(150, 160))
    c.until(lambda: len(c.lines) >= 160)
    c.settle(0.3)
    tailer.close()
    by_seq = dict(zip(seqs(c.lines), c.lines, strict=True))
    assert sorted(by_seq) == list(range(160))
    from_copy = [line for line in c.lines if line.path.endswith(".1")]
    assert seqs(from_copy) == list(range(100, 150))
    old = [by_seq[n].line_id for n in range(150)]
    new = [by_seq[n].line_id for n in range(150, 160)]
    assert old == expected_ids(copy.read_bytes()) == shipped_ids(copy)
    assert new == expected_ids(log.read_bytes()) == shipped_ids(log)
    # Debian's logrotate compresses the copy later: ``ship`` of the .gz names the same lines.
    gz = tmp_path / "access.log.1.gz"
    with open(copy, "rb") as plain, gzip.open(gz, "wb") as packed:
        shutil.copyfileobj(plain, packed)
    assert shipped_ids(gz) == old
    assert not set(old) & set(new)


def test_the_same_lines_in_another_file_get_other_ids(tmp_path):
    a, b = tmp_path / "a.log", tmp_path / "b.log"
    a.write_bytes(lines(0, 50))
    b.write_bytes(lines(1, 51))
    assert not set(shipped_ids(a)) & set(shipped_ids(b))


@pytest.mark.parametrize("acked", [10, 50])
def test_lines_read_again_from_a_gz_sibling_after_a_restart_keep_their_ids(tmp_path, acked):
    """Rotated and compressed while logs2kafka was down: the rest is read from the .gz."""
    log = tmp_path / "logs" / "access.log"
    log.parent.mkdir()
    log.write_bytes(lines(0, 100))
    tailer = make_tailer(str(log), tmp_path / "state", from_beginning=True)
    first = tailer.poll()
    for line in first[:acked]:
        tailer.ack(line.file_id, line.end_offset)
    tailer.close()
    append(log, lines(100, 150))
    whole = log.read_bytes()
    rotated = log.with_name("access.log.1")
    os.rename(log, rotated)
    with open(rotated, "rb") as plain, gzip.open(log.with_name("access.log.1.gz"), "wb") as gz:
        shutil.copyfileobj(plain, gz)
    rotated.unlink()
    log.write_bytes(lines(150, 160))
    again = make_tailer(str(log), tmp_path / "state")
    c = Collector(again)
    c.until(lambda: len(c.lines) == 160 - acked)
    again.close()
    from_gz = [line for line in c.lines if line.path.endswith(".gz")]
    assert seqs(from_gz) == list(range(acked, 150))
    assert [line.line_id for line in from_gz[: 100 - acked]] == [
        line.line_id for line in first[acked:]
    ]
    assert [line.line_id for line in from_gz] == expected_ids(whole)[acked:]

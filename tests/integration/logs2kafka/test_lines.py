"""What is in a line does not decide whether it is shipped: malformed, non-UTF-8 and
over-long lines arrive too, flagged; ``ship`` sends whole plain and gzip files."""

from __future__ import annotations

import gzip
import signal
import subprocess
import time
from dataclasses import replace

import pytest

from logpipe.envelope import decode
from tests.support.forwarder import (
    CLIENTS,
    LOGS2KAFKA,
    Daemon,
    TopicReader,
    make_topic,
    tail_args,
)
from tests.support.paths import DATA

pytestmark = pytest.mark.integration

DATA = DATA / "access-combined-real.log"

GOOD = (
    b'83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET /index.html HTTP/1.1" 200 203 '
    b'"-" "Mozilla/5.0"'
)
LINES = [
    GOOD,
    b"this is not an access log line",
    b'10.0.0.1 - - [17/May/2015:10:05:03 +0000] "GET /caf\xe9 HTTP/1.1" 200 5 "-" "\xff\xfe"',
    b"\xc3\x28 broken \x80 bytes",
    b"",
    b"x" * 5000,
    GOOD,
]


def test_malformed_non_utf8_and_long_lines_are_shipped_flagged(
    kafka_bootstrap, unique_name, tmp_path
):
    topic = make_topic(kafka_bootstrap, unique_name("badlines"))
    log = tmp_path / "access.log"
    log.write_bytes(b"\n".join(LINES) + b"\n")
    args = tail_args(
        topic, kafka_bootstrap, tmp_path / "state", log, from_beginning="", max_line_bytes="1000"
    )
    daemon = Daemon(args, tmp_path / "daemon.log").start()
    reader = TopicReader(kafka_bootstrap, topic)
    try:
        entries = reader.wait_count(len(LINES), 60)
        assert daemon.stop() == 0, daemon.log_text()
    finally:
        daemon.stop()
        reader.close()
    assert len(entries) == len(LINES)
    first, garbage, latin1, broken, empty, long, last = entries
    assert first.parse_error is None and first.fields["status"] == 200
    # The same text at another offset of the file: the same entry, another line (id).
    assert replace(last, line_id=None) == replace(first, line_id=None)
    assert first.line_id and last.line_id and first.line_id != last.line_id
    assert garbage.parse_error and garbage.fields is None
    assert garbage.log == "this is not an access log line"
    # Bytes that are not UTF-8 stay visible as \xHH escapes, never dropped.
    assert "/caf\\xe9" in latin1.log and "\\xff\\xfe" in latin1.log
    assert broken.log == "\\xc3( broken \\x80 bytes" and broken.parse_error
    assert empty.log == "" and empty.parse_error
    assert long.truncated and len(long.log) == 1000 and long.parse_error


def _ship(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [LOGS2KAFKA, "ship", *args],
        capture_output=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("client", CLIENTS)
def test_ship_sends_plain_and_gzip_files_whole(client, kafka_bootstrap, unique_name, tmp_path):
    topic = make_topic(kafka_bootstrap, unique_name("ship"))
    lines = DATA.read_bytes().splitlines()[:3000]
    plain = tmp_path / "access.log"
    plain.write_bytes(b"\n".join(lines[:1000]) + b"\n")
    packed = tmp_path / "access.log.2.gz"
    packed.write_bytes(gzip.compress(b"\n".join(lines[1000:]) + b"\n"))
    done = _ship(
        str(packed),
        str(plain),
        "--topic",
        topic,
        "--bootstrap-servers",
        kafka_bootstrap,
        "--source",
        "www2",
        "--kafka-client",
        client,
    )
    assert done.returncode == 0, done.stderr.decode()
    summary = done.stderr.decode().strip().splitlines()[-1]
    assert summary.startswith("3000 lines, 0 parse errors"), summary
    reader = TopicReader(kafka_bootstrap, topic)
    try:
        entries = reader.wait_count(3000, 60)
        entries = reader.wait_count(3001, 2)
    finally:
        reader.close()
    expected = lines[1000:] + lines[:1000]
    assert [e.log.encode() for e in entries] == expected
    assert all(e.source == "www2" and e.parse_error is None for e in entries)


def test_ship_dry_run_prints_envelopes_and_produces_nothing(tmp_path):
    log = tmp_path / "access.log"
    log.write_bytes(b"\n".join(LINES[:2]) + b"\n")
    done = _ship(str(log), "--dry-run", "--source", "www9", "--bootstrap-servers", "127.0.0.1:1")
    assert done.returncode == 0, done.stderr.decode()
    out = done.stdout.decode().splitlines()
    assert len(out) == 2
    assert '"source":"www9"' in out[0] and '"parse_error"' in out[1]


def test_ship_of_a_missing_file_fails_cleanly(tmp_path):
    done = _ship(str(tmp_path / "nope.log"), "--dry-run")
    assert done.returncode == 2
    assert b"does not exist" in done.stderr


def test_tail_dry_run_prints_envelopes_and_moves_no_checkpoint(tmp_path):
    log, state, out = tmp_path / "access.log", tmp_path / "state", tmp_path / "out.jsonl"
    log.write_bytes(b"\n".join(LINES[:3]) + b"\n")
    with open(out, "wb") as stdout:
        tail = subprocess.Popen(
            [
                *(LOGS2KAFKA, "tail", str(log), "--dry-run", "--from-beginning"),
                *("--state-dir", str(state), "--bootstrap-servers", "127.0.0.1:1"),
            ],
            stdout=stdout,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 30
        while out.read_bytes().count(b"\n") < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        tail.send_signal(signal.SIGTERM)
        _out, err = tail.communicate(timeout=20)
        assert tail.returncode == 0, err.decode()[-3000:]
    finally:
        if tail.poll() is None:
            tail.kill()
    printed = out.read_bytes().splitlines()
    assert [decode(line).log.encode() for line in printed[:2]] == LINES[:2]
    assert len(printed) == 3 and "\\xff\\xfe" in decode(printed[2]).log
    assert not (state / "checkpoints.json").exists()

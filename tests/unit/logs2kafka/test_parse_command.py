"""``logs2kafka parse``: one envelope per input line on stdout, a summary on stderr."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from logpipe.envelope import decode
from logpipe.logs2kafka.cli import main
from tests.support.paths import DATA

DATA = DATA
LINE = b'192.0.2.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5 "-" "curl/8"'


def run(args: list[str], stdin: bytes = b"", env: dict[str, str] | None = None):
    return CliRunner().invoke(main, ["parse", *args], input=stdin, env=env)


def test_parse_a_file():
    result = run([str(DATA / "access-varied-licensed.log"), "--format", "common", "--source", "w"])
    assert result.exit_code == 0, result.output
    lines = result.stdout_bytes.splitlines()
    assert len(lines) == 137
    entries = [decode(line) for line in lines]
    assert all(e.source == "w" and e.type == "www_access" for e in entries)
    # the common format matches every line; combined lines keep referer and agent as extra
    assert result.stderr.strip() == "lines 137, parsed 137, parse errors 0, truncated 0"


def test_parse_stdin_with_errors_truncation_and_type():
    stdin = LINE + b"\r\n" + b"garbage\n" + LINE.replace(b"/ ", b"/" + b"a" * 200 + b" ") + b"\n"
    result = run(["-", "--source", "s", "--type", "www2_access", "--max-line-bytes", "100"], stdin)
    assert result.exit_code == 0, result.output
    entries = [decode(line) for line in result.stdout_bytes.splitlines()]
    assert [e.parse_error is None for e in entries] == [True, False, False]
    assert entries[0].log == LINE.decode()
    assert entries[2].truncated and len(entries[2].log) == 100
    assert {e.type for e in entries} == {"www2_access"}
    assert result.stderr.strip() == "lines 3, parsed 1, parse errors 2, truncated 1"


def test_parse_settings_come_from_the_environment():
    env = {"LOGS2KAFKA_FORMAT": "error", "LOGS2KAFKA_SOURCE": "envhost"}
    line = b"[Wed Oct 11 14:32:52 2000] [error] [client 127.0.0.1] client denied\n"
    result = run([], line, env=env)
    entry = decode(result.stdout_bytes.splitlines()[0])
    assert (entry.source, entry.type, entry.parse_error) == ("envhost", "www_error", None)


def test_parse_a_logformat_string():
    result = run(["--format", '%h %l %u %t \\"%r\\" %>s %b'], LINE + b"\n")
    entry = decode(result.stdout_bytes)
    assert entry.fields is not None and entry.fields["status"] == 200
    assert entry.fields["extra"] == '"-" "curl/8"'


def test_bad_format_is_a_usage_error():
    result = run(["--format", "%h %Z"], LINE)
    assert result.exit_code == 2
    assert "unknown directive %Z" in result.output
    assert result.stdout_bytes.count(b"{") == 0


def test_default_source_is_the_host_name():
    import socket

    entry = decode(run([], LINE).stdout_bytes)
    assert entry.source == socket.gethostname()


def test_the_installed_command(tmp_path: Path):
    sample = tmp_path / "access.log"
    lines = (DATA / "access-combined-real.log").read_bytes().splitlines(keepends=True)[:50]
    sample.write_bytes(b"".join(lines))
    command = Path(sys.executable).parent / "logs2kafka"
    done = subprocess.run(
        [str(command), "parse", str(sample), "--source", "x"],
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert [decode(line).log.encode() + b"\n" for line in done.stdout.splitlines()] == lines
    assert done.stderr.decode().strip() == "lines 50, parsed 50, parse errors 0, truncated 0"

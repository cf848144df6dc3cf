"""The reject file: one JSON line per refused line, written durably, bounded by rotation."""

from __future__ import annotations

import logging

import orjson

from logpipe.logs2kafka.rejects import FILE_NAME, Rejects, file_place, line_place


class FakeLine:
    path = "/var/log/apache2/access.log"
    end_offset = 4242


def read(path):
    return [orjson.loads(x) for x in path.read_bytes().splitlines()]


def test_record_says_why_and_where_and_keeps_the_line(tmp_path):
    rejects = Rejects(tmp_path / "state", line_place)
    rejects.write(b"GET /\xff\x00", "policy_violation", "Broker: policy", FakeLine())
    (record,) = read(tmp_path / "state" / FILE_NAME)
    assert record["reason"] == "policy_violation" and record["error"] == "Broker: policy"
    assert record["path"] == "/var/log/apache2/access.log" and record["end_offset"] == 4242
    assert record["line"] == "GET /\\xff\x00"
    assert record["time"].endswith("+00:00")


def test_rotation_bounds_the_size(tmp_path):
    rejects = Rejects(tmp_path, file_place, max_bytes=2000)
    for i in range(50):
        rejects.write(b"x" * 100 + str(i).encode(), "message_too_large", "e", "/a.log")
    current, older = tmp_path / FILE_NAME, tmp_path / (FILE_NAME + ".1")
    assert current.stat().st_size <= 2000 and older.stat().st_size <= 2000
    assert read(current)[-1]["line"].endswith("49") and read(current)[0]["path"] == "/a.log"
    assert rejects.count == 50


def test_unwritable_file_puts_the_line_in_the_log(tmp_path, caplog):
    (tmp_path / "state").write_text("a file where the directory should be")
    rejects = Rejects(tmp_path / "state")
    with caplog.at_level(logging.WARNING, logger="logpipe"):
        rejects.write(b"the line", "invalid_record", "e", None)
    (logged,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert logged.line == "the line"

"""Messages the broker would refuse: cut to fit the topic's limit, or routed aside.

Topics are created with a small ``max.message.bytes`` (2000) so a 3 KB line is over it
and a line of 256 KiB of NULs (1.5 MB once escaped) is far over it. A record refused
for good is made by lowering the topic's limit below what the producer learned at start.
"""

from __future__ import annotations

import base64
import random
import subprocess
import time
from pathlib import Path

import orjson
import pytest
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic

from logpipe.envelope import LogEntry
from logpipe.logs2kafka import setup as ship_setup
from logpipe.logs2kafka.fit import CUT_REASON
from logpipe.logs2kafka.ship import run_ship
from logpipe_testkit.ports import free_port
from logpipe_testkit.readiness import http_get
from tests.support.forwarder import (
    CLIENTS,
    LOGS2KAFKA,
    Daemon,
    TopicReader,
    access_line,
    empty_log_args,
    seq_of,
)

pytestmark = pytest.mark.integration

LIMIT = 2000
NUL_LINE = b"\x00" * 256 * 1024
BAD_UTF8_LINE = b"\xff\xfe" * 128 * 1024
#: Its envelope fits what the producer learned (2000) but not, even compressed (random
#: text compresses to about three quarters), the lowered limit (LOWERED).
MIDDLE_LINE = base64.b64encode(random.Random(12).randbytes(900))
LOWERED = 600


def make_small_topic(bootstrap: str, name: str) -> str:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics(
            [NewTopic(name, 1, 1, topic_configs={"max.message.bytes": str(LIMIT)})],
            timeout_ms=30_000,
        )
    finally:
        admin.close()
    return name


def set_topic_limit(bootstrap: str, topic: str, limit: int) -> None:
    """Alter the topic's ``max.message.bytes`` and wait until the broker says it holds."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        resource = ConfigResource(
            ConfigResourceType.TOPIC, topic, configs={"max.message.bytes": str(limit)}
        )
        admin.alter_configs([resource])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            found = admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic)], config_filter="all"
            )
            if found["topic"][topic]["max.message.bytes"]["value"] == str(limit):
                break
            time.sleep(0.1)
        time.sleep(0.5)  # the broker applies the change from its metadata log
    finally:
        admin.close()


def is_cut(entry: LogEntry) -> bool:
    return entry.truncated and entry.parse_error == CUT_REASON


def metric(port: int, sample: str) -> float:
    _status, body = http_get(f"http://127.0.0.1:{port}/metrics")
    for line in body.decode().splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[1])
    return 0.0


def append(path: Path, *lines: bytes) -> None:
    with path.open("ab") as f:
        f.write(b"".join(line if line.endswith(b"\n") else line + b"\n" for line in lines))


@pytest.mark.parametrize("client", CLIENTS)
def test_tail_cuts_oversized_lines_and_rejects_a_refused_one(
    client, kafka_bootstrap, unique_name, tmp_path
):
    topic = make_small_topic(kafka_bootstrap, unique_name("small"))
    port = free_port()
    log, state, args = empty_log_args(
        topic,
        kafka_bootstrap,
        tmp_path,
        max_line_bytes=str(300 * 1024),
        metrics_port=str(port),
        kafka_client=client,
    )
    big_line = access_line("big", 0).replace(b"logpipe-test", b"u" * 3000)
    append(log, access_line("a", 0), big_line, NUL_LINE, BAD_UTF8_LINE, access_line("a", 1))
    daemon = Daemon(args, tmp_path / "daemon.log").start()
    reader = TopicReader(kafka_bootstrap, topic)
    try:
        entries = reader.wait_count(5, 60)
        assert len(entries) == 5, daemon.log_text()
        first, big, nul, bad, last = entries
        assert not first.truncated and first.fields is not None
        assert is_cut(big) and big_line.decode().startswith(big.log) and len(big.log) > 1000
        assert is_cut(nul) and nul.log and set(nul.log) == {"\x00"}
        assert is_cut(bad) and bad.log.startswith("\\xff\\xfe")
        assert seq_of(last) == ("a", 1) and not last.truncated
        assert daemon.proc is not None and daemon.proc.poll() is None  # still running
        assert metric(port, "logs2kafka_lines_cut_to_fit_total") == 3

        # Refused for good: the topic now takes less than the producer learned.
        set_topic_limit(kafka_bootstrap, topic, LOWERED)
        append(log, MIDDLE_LINE)
        rejects = state / "rejects.jsonl"
        deadline = time.monotonic() + 60
        while not rejects.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert rejects.exists(), daemon.log_text()
        (record,) = [orjson.loads(x) for x in rejects.read_bytes().splitlines()]
        assert record["reason"] == "message_too_large" and record["path"] == str(log)
        assert record["line"] == MIDDLE_LINE.decode()
        assert record["end_offset"] == log.stat().st_size
        labels = '{reason="message_too_large"}'
        assert metric(port, "logs2kafka_lines_rejected_total" + labels) == 1
        set_topic_limit(kafka_bootstrap, topic, LIMIT)
        append(log, *(access_line("b", n) for n in range(20)))
        entries = reader.wait_count(25, 60)
        assert [seq_of(e) for e in entries[5:]] == [("b", n) for n in range(20)], daemon.log_text()
        assert daemon.proc.poll() is None
        assert daemon.stop() == 0, daemon.log_text()
    finally:
        daemon.stop()
        reader.close()
    text = daemon.log_text()
    assert "kafka unreachable" not in text, text
    # The checkpoint moved past the rejected line: a restart does not send it again.
    restarted = Daemon(args, tmp_path / "daemon2.log").start()
    try:
        time.sleep(3)
        assert restarted.stop() == 0
    finally:
        restarted.stop()
    assert len(rejects.read_bytes().splitlines()) == 1


def test_ship_cuts_what_is_too_large_and_ends(kafka_bootstrap, unique_name, tmp_path):
    topic = make_small_topic(kafka_bootstrap, unique_name("ship_small"))
    path = tmp_path / "old.log"
    append(path, access_line("s", 0), NUL_LINE, BAD_UTF8_LINE, access_line("s", 1))
    done = subprocess.run(
        [
            LOGS2KAFKA,
            "ship",
            str(path),
            "--topic",
            topic,
            "--bootstrap-servers",
            kafka_bootstrap,
            "--state-dir",
            str(tmp_path / "state"),
            "--max-line-bytes",
            str(300 * 1024),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    assert "4 lines" in done.stderr and "2 cut to fit, 0 rejected" in done.stderr
    reader = TopicReader(kafka_bootstrap, topic)
    try:
        entries = reader.wait_count(4, 30)
    finally:
        reader.close()
    assert [is_cut(e) for e in entries] == [False, True, True, False]


@pytest.mark.parametrize("client", ["kafka-python"])
def test_ship_with_a_record_refused_for_good_ends_with_exit_0_and_reports_it(
    client, kafka_bootstrap, unique_name, tmp_path, monkeypatch, capsys
):
    """kafka-python only: it splits a refused batch and so rejects the one line alone;
    librdkafka does not split, so the lines batched with it are rejected with it (the
    tail test above writes the refused line alone, for both clients)."""
    topic = make_small_topic(kafka_bootstrap, unique_name("ship_refused"))
    path = tmp_path / "old.log"
    append(path, access_line("s", 0), MIDDLE_LINE, access_line("s", 1))
    real_open = ship_setup.open_producer

    def open_then_lower_the_limit(*args, **kwargs):
        producer = real_open(*args, **kwargs)  # learns LIMIT
        set_topic_limit(kafka_bootstrap, topic, LOWERED)
        return producer

    monkeypatch.setattr(ship_setup, "open_producer", open_then_lower_the_limit)
    opts = {
        "topic": topic,
        "bootstrap_servers": kafka_bootstrap,
        "state_dir": str(tmp_path / "state"),
        "max_line_bytes": 256 * 1024,
        "source": "testhost",
        "kafka_client": client,
    }
    assert run_ship([str(path)], opts) == 0
    err = capsys.readouterr().err
    assert "3 lines" in err and "1 rejected" in err and "all acknowledged" in err
    (record,) = (tmp_path / "state" / "rejects.jsonl").read_bytes().splitlines()
    assert orjson.loads(record)["path"] == str(path)
    reader = TopicReader(kafka_bootstrap, topic)
    try:
        entries = reader.wait_count(2, 30)
    finally:
        reader.close()
    assert [seq_of(e) for e in entries] == [("s", 0), ("s", 1)]

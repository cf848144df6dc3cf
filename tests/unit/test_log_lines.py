"""The daemons' own log lines: ISO 8601 UTC times with milliseconds, and client-library
noise said once in logpipe's words (or only when debugging)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from logpipe.kafka.client_logs import CLIENT_LOG_FILTER

SCRIPT = """
import logging, sys
from logpipe.observability import setup_logging
import kafka.cluster, kafka.net.selector, kafka.coordinator.assignors.sticky.sticky_assignor
from logpipe.kafka.client_logs import quiet_client_logs
setup_logging(sys.argv[1], sys.argv[2])
quiet_client_logs()
logging.getLogger("logpipe.test").info("hello")
for _ in range(3):
    logging.getLogger("kafka.cluster").error("Topic %s not found in cluster metadata", "t1")
    logging.getLogger("kafka.coordinator.assignors.sticky.sticky_assignor").warning(
        "No partition metadata for topic %s", "t1")
logging.getLogger("kafka.net.selector").warning(
    "Task %s ran for %.3fs (>0.100s threshold). It is blocking the event loop -- likely a "
    "tight sync loop inside a coroutine. Other pollers will time out.", "<Task>", 0.173)
logging.getLogger("kafka.conn").warning("some other client warning")
"""


def run(level: str, fmt: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, level, fmt], capture_output=True, text=True, check=True
    )
    return done.stderr.splitlines()


def test_json_time_is_iso_8601_utc_with_milliseconds() -> None:
    before = datetime.now(UTC)
    (first, *_rest) = run("info", "json")
    record = json.loads(first)
    assert record["message"] == "hello"
    when = record["time"]
    assert len(when) == len("2026-11-29T09:53:44.612Z") and when.endswith("Z"), when
    parsed = datetime.fromisoformat(when)
    assert parsed.tzinfo is not None
    assert abs((parsed - before).total_seconds()) < 30


def test_text_time_is_the_same_form() -> None:
    first = run("info", "text")[0]
    stamp = first.split(" ", 1)[0]
    assert stamp.endswith("Z") and "T" in stamp
    datetime.fromisoformat(stamp)


def test_a_missing_topic_is_one_info_line_and_event_loop_timing_only_when_debugging() -> None:
    lines = [json.loads(line) for line in run("info", "json")]
    said = [(r["level"], r["logger"], r["message"]) for r in lines]
    assert said == [
        ("INFO", "logpipe.test", "hello"),
        ("INFO", "logpipe.kafka", "topic t1 does not exist yet: waiting for it"),
        ("WARNING", "kafka.conn", "some other client warning"),
    ]
    debug = [json.loads(line)["message"] for line in run("debug", "json")]
    assert any("blocking the event loop" in message for message in debug)


def test_the_filter_keeps_other_client_lines(caplog: pytest.LogCaptureFixture) -> None:
    record = logging.LogRecord("kafka.conn", logging.ERROR, __file__, 1, "broker down", (), None)
    assert CLIENT_LOG_FILTER.filter(record)


def test_what_a_closing_client_says_is_a_debug_line() -> None:
    """kafka-python complains of the requests it cancels while closing: no news on a stop."""
    from logpipe.kafka.client_logs import closing

    def record() -> logging.LogRecord:
        return logging.LogRecord(
            "kafka.cluster",
            logging.ERROR,
            __file__,
            1,
            "Metadata refresh: failed Cancelled",
            (),
            None,
        )

    logging.getLogger("logpipe.kafka").setLevel(logging.INFO)
    try:
        with closing():
            assert not CLIENT_LOG_FILTER.filter(record())
        assert CLIENT_LOG_FILTER.filter(record())  # the same line outside a close passes
    finally:
        logging.getLogger("logpipe.kafka").setLevel(logging.NOTSET)

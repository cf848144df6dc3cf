"""kill -9 of logs2kafka under load, in event mode: the topic holds lines twice, the table
holds each line once.

After a kill -9, logs2kafka resumes at its last checkpoint, so the lines Kafka
acknowledged since then are sent again as new records. Each envelope carries the line's
``id`` (its file's content and offset), from which kafka2cassandra derives ``log_id``, so
the second record of a line overwrites the first one's row. Every tenth line is followed
by a line that does not parse (NUL bytes and a marker): such a line takes the time of
the parsed line before it, which a restart finds again in the file, so it too is one row.
Both daemons run as processes against the shared servers (no server is stopped here).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from logpipe_testkit.ports import free_ports
from logpipe_testkit.traffic import LogWriter, load_lines
from tests.e2e.harness import (
    Stage,
    empty_log,
    row_sequences,
    runs,
    topic_sequences,
    wait_ready,
)
from tests.support.k2c import committed_offsets, end_offsets, wait_until
from tests.support.paths import ROOT

SOURCE = "www-kill9"
RATE = 600.0  # lines per second
KILLS_AT = (3.0, 7.0)  # seconds into the writing
SECONDS = 10.0
BAD_EVERY = 10  # every tenth line is followed by one that does not parse


def bad_line_after(run: str) -> Callable[[int], bytes]:
    """A suffix starting a second line, unparsable, marked ``<run>x-<seq>``."""

    def suffix(seq: int) -> bytes:
        if seq % BAD_EVERY:
            return b""
        return b"\n\x00\x00\x00 not a request ?logpipe_seq=%sx-%d" % (run.encode(), seq)

    return suffix


@pytest.mark.e2e
def test_kill9_of_logs2kafka_under_load_adds_no_row(
    kafka_bootstrap: str,
    cassandra_contact_points: str,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    stage = Stage.prepared(kafka_bootstrap, cassandra_contact_points, unique_name, "k9", 3)
    topic, cassandra, keyspace, group = stage.topic, stage.cassandra, stage.keyspace, stage.group
    log_path = empty_log(tmp_path)
    run = unique_name("r").replace("_", "")
    l2k_port, k2c_port = free_ports(2)
    shipper = stage.shipper(
        "logs2kafka", [str(log_path)], SOURCE, tmp_path, "--metrics-port", str(l2k_port)
    )
    poller = stage.poller(
        "kafka2cassandra", tmp_path, "--log-id", "event", "--metrics-port", str(k2c_port)
    )
    corpus = load_lines(ROOT / "tests/data/access-combined-real.log")
    writer = LogWriter(log_path, corpus, run, RATE, suffix=bad_line_after(run))
    try:
        poller.start()
        wait_ready(poller, k2c_port)
        shipper.start()
        wait_ready(shipper, l2k_port)
        begin = time.monotonic()
        writer.start()
        for at in KILLS_AT:
            time.sleep(max(0.0, begin + at - time.monotonic()))
            shipper.restart()  # kill -9, then start again from the checkpoint
        time.sleep(max(0.0, begin + SECONDS - time.monotonic()))
        written = writer.stop()

        wanted = set(writer.appended)
        wanted_bad = {s for s in wanted if s % BAD_EVERY == 0}
        assert wait_until(
            lambda: (
                wanted <= set(row_sequences(cassandra, keyspace, SOURCE, run))
                and wanted_bad <= set(row_sequences(cassandra, keyspace, SOURCE, run + "x"))
            ),
            120,
            2.0,
        ), shipper.output()[-3000:]
        # Let the poller store every record (the late duplicates too) before counting.
        assert wait_until(
            lambda: (
                committed_offsets(kafka_bootstrap, group, topic)
                == end_offsets(kafka_bootstrap, topic)
            ),
            60,
        )
        for daemon in (shipper, poller):
            assert daemon.alive(), f"{daemon.name} died:\n{daemon.output()[-3000:]}"
            assert daemon.terminate() == 0, daemon.output()[-3000:]
    finally:
        writer.stop()
        for daemon in (shipper, poller):
            if daemon.alive():
                daemon.kill9()

    rows = row_sequences(cassandra, keyspace, SOURCE, run)
    bad_rows = row_sequences(cassandra, keyspace, SOURCE, run + "x")
    in_topic, records = topic_sequences(kafka_bootstrap, topic, run)
    bad_in_topic, _ = topic_sequences(kafka_bootstrap, topic, run + "x")
    resent = [s for s, n in in_topic.items() if n > 1]
    bad_resent = [s for s, n in bad_in_topic.items() if n > 1]
    print(
        f"\nkill -9 of logs2kafka x{len(KILLS_AT)}: {written} lines written, {records} records"
        f" in the topic ({len(resent)} lines sent twice, ranges {runs(resent)[:6]}),"
        f" {sum(rows.values())} rows; {len(wanted_bad)} unparsable lines,"
        f" {len(bad_resent)} sent twice, {sum(bad_rows.values())} rows"
    )
    assert resent, "no line was sent twice: the kills proved nothing"
    assert bad_resent, "no unparsable line was sent twice: the kills proved nothing"
    assert sorted(rows) == list(range(written)), "missing lines"
    assert sum(rows.values()) == written, {s: n for s, n in rows.items() if n > 1}
    assert sorted(bad_rows) == sorted(wanted_bad), "missing unparsable lines"
    assert sum(bad_rows.values()) == len(wanted_bad), {s: n for s, n in bad_rows.items() if n > 1}

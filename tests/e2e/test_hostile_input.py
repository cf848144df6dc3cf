"""Hostile input, end to end: nothing crashes a daemon, and every line is accounted for.

Lines no Apache would write (invalid UTF-8, NUL bytes, a 1 MB line, half lines, binary
noise, thousands of random printable lines) go through both daemons and must all end
as rows (flagged with parse_error or truncated) or as dead-letter records. Hostile Kafka
messages produced straight to the topic must all end in the dead-letter topic while the
good messages around them are stored.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from logpipe.cassandra import Store
from logpipe.config.connections import CassandraConnection
from logpipe.envelope import LogEntry, encode
from tests.e2e.harness import Daemon, Stage, wait_for
from tests.support.paths import ROOT

ROOT = ROOT


def hostile_lines(rng: random.Random) -> list[bytes]:
    """Lines (without their newline) that a log file may really contain, and worse."""
    real = (ROOT / "tests/data/access-combined-real.log").read_bytes().splitlines()
    lines: list[bytes] = [
        b"\xff\xfe\xfa invalid utf-8 \xc3\x28 \xa0\xa1",
        real[0][:40] + b"\x00\x00NUL inside" + real[0][40:],
        b"\x00" * 64,
        b"A" * (1024 * 1024),  # a 1 MB line: cut at --max-line-bytes and flagged
        bytes(rng.randrange(256) for _ in range(1024 * 1024)).replace(b"\n", b" "),
        real[1][: len(real[1]) // 2],  # half lines
        real[2][len(real[2]) // 2 :],
        b"",
        b"\r",
        b"\xef\xbb\xbf" + real[3],  # BOM
        real[4] + b"\r",  # CRLF
    ]
    for _ in range(50):  # binary noise
        lines.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400))))
    printable = string.printable.replace("\n", "").replace("\r", "")
    for _ in range(10_000):
        lines.append("".join(rng.choices(printable, k=rng.randrange(1, 200))).encode())
    # Noise may hold newlines: split exactly as a reader of the file will.
    return b"\n".join(lines).split(b"\n")


def dlq_records(bootstrap: str, topic: str) -> list:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        consumer_timeout_ms=3000,
        fetch_max_bytes=8 * 1024 * 1024,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    records = list(consumer)
    consumer.close()
    return records


def count_rows(conn: CassandraConnection, keyspace: str, source: str, kind: str) -> int:
    with Store(conn, consistency="ONE") as store:
        return store.count(keyspace, source, kind)


@pytest.mark.e2e
def test_hostile_lines_become_flagged_rows_or_dead_letters(
    kafka_bootstrap: str,
    cassandra_contact_points: str,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    rng = random.Random(20181108)
    stage = Stage.prepared(kafka_bootstrap, cassandra_contact_points, unique_name, "hl", 3)
    cassandra, keyspace, dlq = stage.cassandra, stage.keyspace, stage.dlq

    lines = hostile_lines(rng)
    log = tmp_path / "hostile.log"
    log.write_bytes(b"\n".join(lines) + b"\n")
    source = "hostile-host"
    shipper: Daemon = stage.shipper("logs2kafka", [str(log)], source, tmp_path).start()
    poller: Daemon = stage.poller("kafka2cassandra", tmp_path, "--log-id", "event").start()
    try:

        def accounted() -> bool:
            assert shipper.alive(), shipper.output()[-3000:]
            assert poller.alive(), poller.output()[-3000:]
            rows = count_rows(cassandra, keyspace, source, "www_access")
            return rows + len(dlq_records(kafka_bootstrap, dlq)) >= len(lines)

        wait_for(accounted, 240, f"{len(lines)} lines as rows or dead letters", interval=1)
        assert shipper.terminate() == 0, shipper.output()[-3000:]
        assert poller.terminate() == 0, poller.output()[-3000:]
    finally:
        for daemon in (shipper, poller):
            if daemon.alive():
                daemon.kill9()

    rows = count_rows(cassandra, keyspace, source, "www_access")
    dead = dlq_records(kafka_bootstrap, dlq)
    assert rows + len(dead) == len(lines)
    with Store(cassandra, consistency="ONE") as store:
        stored = list(store.select(keyspace, source, "www_access", page_size=500))
    longest = max(len(row["log"].encode()) for row in stored)
    assert longest <= 4 * 256 * 1024, "a line longer than --max-line-bytes was stored uncut"
    assert any("\\xff" in row["log"] for row in stored), "non-UTF-8 bytes not kept as \\xHH"


@pytest.mark.e2e
def test_hostile_messages_go_to_the_dead_letter_topic_and_good_ones_are_stored(
    kafka_bootstrap: str,
    cassandra_contact_points: str,
    unique_name: Callable[[str], str],
    tmp_path: Path,
) -> None:
    stage = Stage.prepared(kafka_bootstrap, cassandra_contact_points, unique_name, "hm", 1)
    topic, cassandra, keyspace, dlq = stage.topic, stage.cassandra, stage.keyspace, stage.dlq

    good = [
        encode(
            LogEntry(
                "good-host", "www_access", "2018-08-08T17:44:40+00:00", f"line {i}", {"status": 200}
            )
        )
        for i in range(20)
    ]
    envelope = {
        "source": "x",
        "type": "www_access",
        "datetime": "2018-08-08T17:44:40+00:00",
        "log": "l",
    }
    hostile: list[bytes | None] = [
        b"not json at all",
        b"\xff\xfe\x00binary",
        b"[1, 2, 3]",
        b'"just a string"',
        b"42",
        b"{}",
        b'{"log": "a string, not an object"}',
        b'{"log": [1, 2]}',
        orjson.dumps({"log": {**envelope, "source": 5}}),
        orjson.dumps({"log": {**envelope, "log": None}}),
        orjson.dumps({"log": {**envelope, "fields": [1, 2]}}),
        orjson.dumps({"log": {k: v for k, v in envelope.items() if k != "type"}}),
        b"{" * 5000,
        b"x" * 900_000,  # huge
        None,  # a tombstone
    ]
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, max_request_size=2 * 1024 * 1024)
    for i, value in enumerate(hostile):
        producer.send(topic, key=b"k", value=good[i])
        producer.send(topic, key=b"k", value=value)
    for value in good[len(hostile) :]:
        producer.send(topic, key=b"k", value=value)
    producer.flush()
    producer.close()

    poller = stage.poller("kafka2cassandra", tmp_path).start()
    try:

        def done() -> bool:
            assert poller.alive(), poller.output()[-3000:]
            rows = count_rows(cassandra, keyspace, "good-host", "www_access")
            return rows >= len(good) and len(dlq_records(kafka_bootstrap, dlq)) >= len(hostile)

        wait_for(done, 120, "good rows and dead letters", interval=1)
        assert poller.terminate() == 0, poller.output()[-3000:]
    finally:
        if poller.alive():
            poller.kill9()

    assert count_rows(cassandra, keyspace, "good-host", "www_access") == len(good)
    dead = dlq_records(kafka_bootstrap, dlq)
    assert sorted((r.value or b"") for r in dead) == sorted((v or b"") for v in hostile)
    for record in dead:
        headers = dict(record.headers)
        assert headers["logpipe.error.reason"], headers
        assert headers["logpipe.source.topic"] == topic.encode()
        assert headers["logpipe.source.partition"] == b"0"
        assert int(headers["logpipe.source.offset"]) >= 0

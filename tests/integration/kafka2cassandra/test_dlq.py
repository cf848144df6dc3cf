"""Poison messages go to the dead-letter topic with their reason; the stream goes on."""

from __future__ import annotations

import orjson
import pytest

from logpipe.envelope import LogEntry, encode
from tests.support.k2c import (
    all_logs,
    caught_up,
    entries,
    keyspace,
    make_topic,
    produce,
    read_partition,
    stream_poller,
    wait_until,
)

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("client", ["kafka-python", "confluent"])
def test_poison_messages_are_dead_lettered_and_the_rest_stored(
    client, kafka_bootstrap, cassandra_contact_points, unique_name
):
    topic, ks, group = unique_name("dlq"), unique_name("dlq"), unique_name("dlq")
    dlq = f"{topic}_dlq"
    good = entries(300, sources=1)
    huge_key = LogEntry("h" * 70_000, "www_access", good[0].datetime, "too big a key", {})
    bad_time = LogEntry("www0", "www_access", "yesterday", "a line without a time", {})
    poison = {
        b"not json at all": "envelope",
        b'{"log": "a string"}': "envelope",
        b'{"log": {"source": "www0", "type": "www_access"}}': "envelope",
        orjson.dumps([1, 2, 3]): "envelope",
        encode(huge_key): "cassandra",
        encode(bad_time): "datetime",
    }
    records: list[tuple[bytes | None, bytes | None]] = []
    for i, entry in enumerate(good):
        records.append((b"www0", encode(entry)))
        if i % 50 == 10:
            records.append((b"www0", list(poison)[len(records) % len(poison)]))
    # every kind at least once, and the last record of the topic is good
    records[100:100] = [(b"www0", value) for value in poison]
    make_topic(kafka_bootstrap, topic, partitions=1)
    make_topic(kafka_bootstrap, dlq, partitions=1)
    produce(kafka_bootstrap, topic, records)
    bad_positions = {
        offset: value for offset, (_key, value) in enumerate(records) if value in poison
    }

    with keyspace(cassandra_contact_points, ks) as store:
        with stream_poller(
            kafka_bootstrap,
            cassandra_contact_points,
            topic,
            ks,
            group,
            log_id_mode="event",
            batch_rows=16,
            kafka_client=client,
        ) as poller:
            assert wait_until(lambda: len(all_logs(store, ks)) >= len(good), 60)
            assert wait_until(lambda: caught_up(kafka_bootstrap, group, topic), 30)
        assert sorted(all_logs(store, ks)) == sorted(e.log for e in good)

    letters = read_partition(kafka_bootstrap, dlq, len(bad_positions))
    assert len(letters) == len(bad_positions)
    by_offset = {}
    for letter in letters:
        headers = dict(letter.headers)
        assert headers["logpipe.source.topic"] == topic.encode()
        assert headers["logpipe.source.partition"] == b"0"
        by_offset[int(headers["logpipe.source.offset"])] = (letter, headers)
    assert sorted(by_offset) == sorted(bad_positions)
    for offset, (letter, headers) in by_offset.items():
        assert letter.value == bad_positions[offset]  # the original bytes
        assert letter.key == b"www0"
        assert headers["logpipe.error"].decode() == poison[letter.value]
        assert headers["logpipe.error.reason"]
    reasons = {
        headers["logpipe.error"]: headers["logpipe.error.reason"]
        for _, headers in by_offset.values()
    }
    assert b"not JSON" in reasons[b"envelope"] or b"missing" in reasons[b"envelope"]
    assert b"65535" in reasons[b"cassandra"]  # a partition key longer than CQL allows
    counted = poller.poller.metrics.dead_lettered
    assert sum(
        counted.labels(kind)._value.get() for kind in ("envelope", "cassandra", "datetime")
    ) == len(bad_positions)

"""How the poller cuts a poll's rows into requests: per partition key, by count and size."""

from __future__ import annotations

from logpipe.config.connections import CassandraConnection, KafkaConnection
from logpipe.envelope import LogEntry, encode
from logpipe.kafka import ConsumedRecord
from logpipe.kafka2cassandra.poller import Poller, PollerConfig


class RecordingWriter:
    max_in_flight = 256
    queued = 0

    def __init__(self):
        self.requests = []

    def submit(self, rows, callback):
        self.requests.append(rows)
        callback(None, 0.001)


def poller_with(batch_rows):
    poller = Poller(
        PollerConfig(batch_rows=batch_rows, tune_gc=False), KafkaConnection(), CassandraConnection()
    )
    poller.tracker.assign([("t", 0)])
    poller._writer = RecordingWriter()
    return poller


def records(lines):
    out = []
    for offset, (source, line) in enumerate(lines):
        entry = LogEntry(source, "www_access", "2018-08-08T17:44:40+00:00", line, {})
        out.append(ConsumedRecord("t", 0, offset, 0, source.encode(), encode(entry)))
    return out


def test_rows_are_grouped_by_partition_key_and_cut_by_count():
    poller = poller_with(batch_rows=4)
    poller._ingest(records([("www1" if i % 3 else "www2", f"l{i}") for i in range(30)]))
    requests = poller._writer.requests
    assert all(len({(r.source, r.type) for r in rows}) == 1 for rows in requests)
    assert all(len(rows) <= 4 for rows in requests)
    assert sum(len(rows) for rows in requests) == 30
    assert poller.tracker.committable() == {("t", 0): 30}


def test_long_lines_cut_a_batch_early():
    poller = poller_with(batch_rows=32)
    long_line = "x" * 200_000
    poller._ingest(records([("www1", long_line)] * 6))
    sizes = [len(rows) for rows in poller._writer.requests]
    assert sizes == [2, 2, 2]  # at most 512 KiB of lines per request

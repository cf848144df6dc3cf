"""How a poll's rows are cut into requests: per partition key, by count and size."""

from __future__ import annotations

from logpipe.envelope import LogEntry, encode
from logpipe.kafka import ConsumedRecord
from logpipe.kafka2cassandra.config import PollerConfig
from logpipe.kafka2cassandra.delivery import Delivery
from logpipe.kafka2cassandra.metrics import PollerMetrics
from logpipe.kafka2cassandra.offsets import OffsetTracker
from logpipe.kafka2cassandra.rows import Item, batches, build_row
from tests.unit.kafka2cassandra.fakes import RecordingWriter


def records(lines):
    out = []
    for offset, (source, line) in enumerate(lines):
        entry = LogEntry(source, "www_access", "2018-08-08T17:44:40+00:00", line, {})
        out.append(ConsumedRecord("t", 0, offset, 0, source.encode(), encode(entry)))
    return out


def items(lines):
    return [Item(record, 1, build_row(record, "now")) for record in records(lines)]


def delivery_with(batch_rows):
    tracker = OffsetTracker()
    tracker.assign([("t", 0)])
    writer = RecordingWriter()
    config = PollerConfig(batch_rows=batch_rows, tune_gc=False)
    return Delivery(config, writer, None, tracker, PollerMetrics()), writer


def test_rows_are_grouped_by_partition_key_and_cut_by_count():
    lines = [("www1" if i % 3 else "www2", f"l{i}") for i in range(30)]
    requests = [[item.row for item in chunk] for chunk in batches(items(lines), 4)]
    assert all(len({(r.source, r.type) for r in rows}) == 1 for rows in requests)
    assert all(len(rows) <= 4 for rows in requests)
    assert sum(len(rows) for rows in requests) == 30


def test_long_lines_cut_a_batch_early():
    long_line = "x" * 200_000
    sizes = [len(chunk) for chunk in batches(items([("www1", long_line)] * 6), 32)]
    assert sizes == [2, 2, 2]  # at most 512 KiB of lines per request


def test_a_row_longer_than_the_limit_is_a_request_of_its_own():
    sizes = [len(chunk) for chunk in batches(items([("www1", "x" * 600_000)] * 2), 32)]
    assert sizes == [1, 1]


def test_ingested_rows_are_written_in_batches_and_acknowledged():
    delivery, writer = delivery_with(batch_rows=4)
    delivery.ingest(records([("www1" if i % 3 else "www2", f"l{i}") for i in range(30)]))
    requests = writer.requests
    assert all(len({(r.source, r.type) for r in rows}) == 1 for rows in requests)
    assert all(len(rows) <= 4 for rows in requests)
    assert sum(len(rows) for rows in requests) == 30
    assert delivery.tracker.committable() == {("t", 0): 30}
    assert delivery.drained


def test_ingested_long_lines_cut_a_batch_early():
    delivery, writer = delivery_with(batch_rows=32)
    delivery.ingest(records([("www1", "x" * 200_000)] * 6))
    assert [len(rows) for rows in writer.requests] == [2, 2, 2]

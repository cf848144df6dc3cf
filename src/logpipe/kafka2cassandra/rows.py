"""Kafka records into rows, and rows into write requests: pure, no I/O.

``build_row`` decodes one envelope into the row Cassandra stores (in ``event`` mode with
the inputs of its ``log_id``: the request time and the line's ``id``, or for an envelope
without one the record's place in Kafka), or
raises ``Unstorable`` with the reason the record goes to the dead-letter topic.
``batches`` groups rows by partition key (``(log_source, log_type)``, and the bucket in a
bucketed table) and cuts each group
into requests by row count and by bytes of lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from logpipe.cassandra import Row, event_timeuuid, line_timeuuid
from logpipe.envelope import EnvelopeError, decode, line_id_offset, parse_datetime
from logpipe.kafka import ConsumedRecord

#: A batch also ends at this many bytes of lines: a few dozen long lines (up to 256 KiB
#: each) would otherwise make a request larger than Cassandra takes in one mutation.
BATCH_BYTES = 512 * 1024


@dataclass(slots=True)
class Item:
    """One consumed record on its way to Cassandra or to the dead-letter topic.

    ``epoch`` is the ``OffsetTracker`` epoch its acknowledgement quotes; ``row`` is set
    once the record decoded into a row.
    """

    record: ConsumedRecord
    epoch: int
    row: Row | None = None


#: The items of one write request (or one record dead-lettered).
Chunk = Sequence[Item]


class Unstorable(Exception):
    """A record that can never become a row; ``error`` names the kind (a dead-letter
    header), ``reason`` says what is wrong with it."""

    def __init__(self, error: str, reason: str) -> None:
        super().__init__(reason)
        self.error = error
        self.reason = reason


def build_row(record: ConsumedRecord, log_id_mode: str) -> Row:
    """The row of one record; in ``event`` mode with its log_id and write timestamp.

    ``log_id`` comes from the line's ``id`` when the envelope has one (the same line sent
    again in another record is the same row), else from (topic, partition, offset).
    The write timestamp is the Kafka record's (its replay overwrites with the same
    timestamp; a later record of the same line, holding the same line, wins), or the
    request time when the broker gave none.
    """
    try:
        entry = decode(record.value)
    except EnvelopeError as exc:
        raise Unstorable("envelope", str(exc)) from None
    row = Row(
        entry.source,
        entry.type,
        entry.datetime,
        entry.log,
        fields=entry.fields,
        parse_error=entry.parse_error,
    )
    if log_id_mode == "event":
        try:
            when = parse_datetime(entry.datetime)
        except ValueError as exc:
            raise Unstorable("datetime", f"log.datetime not a time: {exc}") from None
        line_id = entry.line_id
        row.log_id = (
            line_timeuuid(when, entry.source, line_id, line_id_offset(line_id))
            if line_id is not None
            else event_timeuuid(when, record.topic, record.partition, record.offset)
        )
        row.timestamp_us = (
            record.timestamp_ms * 1000
            if record.timestamp_ms >= 0
            else int(when.timestamp() * 1_000_000)
        )
    return row


def source_and_type(row: Row) -> tuple[Any, ...]:
    """The partition key of the tutorial's table."""
    return (row.source, row.type)


def batches(
    items: Iterable[Item],
    batch_rows: int,
    max_bytes: int = BATCH_BYTES,
    key: Callable[[Row], tuple[Any, ...]] = source_and_type,
) -> Iterator[list[Item]]:
    """Items with rows, grouped by partition key (``key``: the writer's ``partition_of``;
    groups in order of first appearance) and cut into requests of at most ``batch_rows``
    rows and ``max_bytes`` bytes of lines (a single longer row still makes a request of
    its own)."""
    groups: dict[tuple[Any, ...], list[Item]] = {}
    for item in items:
        row = item.row
        assert row is not None
        groups.setdefault(key(row), []).append(item)
    for group in groups.values():
        chunk: list[Item] = []
        chunk_bytes = 0
        for item in group:
            row_bytes = len(item.row.log) if item.row is not None else 0
            if chunk and (len(chunk) >= batch_rows or chunk_bytes + row_bytes > max_bytes):
                yield chunk
                chunk, chunk_bytes = [], 0
            chunk.append(item)
            chunk_bytes += row_bytes
        if chunk:
            yield chunk

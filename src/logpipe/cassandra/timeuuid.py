"""The ``log_id`` of an ``event``-mode row: a version-1 UUID derived from the line itself.

Two derivations, both pure functions of what the message says: ``line_timeuuid`` from the
line's ``id`` (its file's content and offset: a line sent twice is one row), and, for
messages without an ``id`` (older producers), ``event_timeuuid`` from the Kafka record
(a replay of one record is one row). Kept apart from the driver code: it is arithmetic
on times and names, so both can be checked without a node.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

# 100-ns intervals between the UUID epoch (1582-10-15) and the Unix epoch.
_UUID_EPOCH_OFFSET = 0x01B21DD213814000
_SUBSECOND_UNITS = 10_000_000


def event_timeuuid(when: datetime, topic: str, partition: int, offset: int) -> uuid.UUID:
    """A version-1 UUID that is a pure function of the request time and the Kafka record.

    * Time: the request time truncated to the second (Apache logs have no finer
      resolution), so ``toTimestamp(log_id)`` is the request time to the second and the
      tutorial's ``maxTimeuuid``/``minTimeuuid`` windows select by request time.
    * Sub-second 100-ns units: ``offset mod 10**7``, so rows of one partition key within
      one second sort in log order (the key of a message is its source, so one source's
      lines share a Kafka partition and come in order).
    * clock_seq (14 bits) and node (48 bits): from a BLAKE2b hash of (topic, partition,
      offset), so distinct records cannot meet on the same UUID in practice while a
      replay of the same record yields the same UUID and overwrites its own row.
    """
    return _timeuuid(when, offset, f"{topic}\x00{partition}\x00{offset}")


def line_timeuuid(when: datetime, source: str, line_id: str, line_offset: int) -> uuid.UUID:
    """A version-1 UUID that is a pure function of the request time and the line's ``id``.

    * Time: the request time truncated to the second, as for ``event_timeuuid``.
    * Sub-second 100-ns units: ``line_offset mod 10**7`` (the byte offset at which the
      line begins in its file), so one file's lines within one second sort in file order.
    * clock_seq and node: from a BLAKE2b hash of (source, line_id), so the same line sent
      twice, in whatever Kafka records, yields the same UUID and overwrites its own row.
    """
    return _timeuuid(when, line_offset, f"{source}\x00{line_id}")


def _timeuuid(when: datetime, order: int, name: str) -> uuid.UUID:
    """The UUID of the second of ``when``, sub-second units ``order mod 10**7``, and
    clock_seq and node hashed from ``name``."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = int(when.timestamp() // 1)
    ticks = (seconds * _SUBSECOND_UNITS + order % _SUBSECOND_UNITS + _UUID_EPOCH_OFFSET) & (
        (1 << 60) - 1
    )
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    bits = int.from_bytes(digest, "big")
    clock_seq = bits & 0x3FFF
    node = (bits >> 14) & 0xFFFFFFFFFFFF
    return uuid.UUID(
        int=(ticks & 0xFFFFFFFF) << 96
        | ((ticks >> 32) & 0xFFFF) << 80
        | (((ticks >> 48) & 0x0FFF) | 0x1000) << 64
        | (((clock_seq >> 8) & 0x3F) | 0x80) << 56
        | (clock_seq & 0xFF) << 48
        | node
    )


def timeuuid_datetime(value: uuid.UUID) -> datetime:
    """The time held by a version-1 UUID (what CQL ``toTimestamp`` returns), in UTC."""
    seconds, units = divmod(value.time - _UUID_EPOCH_OFFSET, _SUBSECOND_UNITS)
    return datetime.fromtimestamp(seconds, tz=UTC) + timedelta(microseconds=units // 10)

"""The ``log_id`` of an ``event``-mode row: a version-1 UUID derived from the record itself.

Kept apart from the driver code: it is pure arithmetic on times and Kafka coordinates,
so a replay of a record can be checked to give the same ``log_id`` without a node.
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
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = int(when.timestamp() // 1)
    ticks = (seconds * _SUBSECOND_UNITS + offset % _SUBSECOND_UNITS + _UUID_EPOCH_OFFSET) & (
        (1 << 60) - 1
    )
    digest = hashlib.blake2b(f"{topic}\x00{partition}\x00{offset}".encode(), digest_size=8).digest()
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

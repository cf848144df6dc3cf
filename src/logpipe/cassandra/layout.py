"""A table's layout: which partition a row goes to, as recorded with the table itself.

``tutorial``: ``PRIMARY KEY ((log_source, log_type), log_id)``, one partition per host and
type that grows without end. ``bucketed``: ``PRIMARY KEY ((log_source, log_type, bucket),
log_id)``, where ``bucket`` is the start of the time span (``1m`` ... ``1d``) holding the
time of ``log_id``, so a partition holds at most that span of one host's lines.

The layout and the bucket size are written into the table's comment when ``schema``
creates it (``logpipe layout=bucketed bucket=1h``), so the poller and ``query`` read them
from Cassandra and cannot disagree with the table or with each other. Pure logic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from logpipe.cassandra.schema import check_keyspace, check_table

LAYOUTS = ("tutorial", "bucketed")
#: Bucket name -> seconds.
BUCKETS: dict[str, int] = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "1d": 86400}
_COMMENT = re.compile(r"\blogpipe layout=(\w+)(?: bucket=(\w+))?")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Layout:
    """Where rows of one table go: ``bucket`` None is the tutorial's layout."""

    keyspace: str
    table: str = "logs"
    bucket: str | None = None
    #: The field columns the table has (``Store.field_columns``).
    columns: tuple[str, ...] = ()
    #: The table's ``default_time_to_live`` in seconds (0: rows do not expire).
    ttl: int = 0

    def __post_init__(self) -> None:
        check_keyspace(self.keyspace)
        check_table(self.table)
        if self.bucket is not None and self.bucket not in BUCKETS:
            raise ValueError(f"bucket must be one of {', '.join(BUCKETS)}, got {self.bucket!r}")

    @property
    def name(self) -> str:
        """``tutorial`` or ``bucketed``."""
        return "tutorial" if self.bucket is None else "bucketed"

    @property
    def qualified(self) -> str:
        """``keyspace.table``."""
        return f"{self.keyspace}.{self.table}"

    @property
    def bucket_seconds(self) -> int:
        if self.bucket is None:
            raise ValueError("the tutorial layout has no buckets")
        return BUCKETS[self.bucket]

    def comment(self) -> str:
        """What ``schema`` writes as the table's comment (read back by ``from_comment``)."""
        if self.bucket is None:
            return "logpipe layout=tutorial"
        return f"logpipe layout=bucketed bucket={self.bucket}"

    @classmethod
    def from_comment(
        cls,
        keyspace: str,
        table: str,
        comment: str | None,
        columns: tuple[str, ...] = (),
        ttl: int = 0,
    ) -> Layout:
        """The layout a table's comment records; a table without one is the tutorial's
        (it was made by hand, or by a logpipe before layouts)."""
        found = _COMMENT.search(comment or "")
        if found is None or found.group(1) == "tutorial":
            return cls(keyspace, table, None, columns, ttl)
        if found.group(1) != "bucketed" or found.group(2) not in BUCKETS:
            raise ValueError(f"{keyspace}.{table}: unknown layout in its comment: {comment!r}")
        return cls(keyspace, table, found.group(2), columns, ttl)

    def bucket_start(self, epoch_seconds: float) -> int:
        """The bucket holding this time, as whole epoch seconds (its start)."""
        size = self.bucket_seconds
        return int(epoch_seconds // size) * size

    def buckets(self, since: datetime, until: datetime) -> list[datetime]:
        """The buckets that hold times in ``[since, until)``, newest first."""
        size = self.bucket_seconds
        if until <= since:
            return []
        first = self.bucket_start((since - _EPOCH).total_seconds())
        last = (until - _EPOCH).total_seconds()
        out = []
        start = first
        while start < last:
            out.append(_EPOCH + timedelta(seconds=start))
            start += size
        return out[::-1]


#: Bytes a row takes in a partition, for ``partition_sizes``: rows of the real corpus in
#: tests/data with their field columns measure about 500 (sstablepartitions, uncompressed).
ROW_BYTES = 600
#: Cassandra's guidance for one partition: about 100,000 rows and 100 MB.
GUIDANCE_ROWS = 100_000
GUIDANCE_BYTES = 100 * 1024 * 1024


def partition_size(lines_per_second: float, bucket: str) -> tuple[int, int]:
    """(rows, bytes) one partition of this bucket holds at a steady rate of one host."""
    rows = round(lines_per_second * BUCKETS[bucket])
    return rows, rows * ROW_BYTES


def partition_sizes(lines_per_second: float) -> list[str]:
    """Lines to print: the partition size each bucket gives at a rate of one host."""
    out = [
        f"one host writing {lines_per_second:g} lines/s "
        f"(sizes at about {ROW_BYTES} bytes a row, uncompressed):",
        f"{'bucket':<8} {'rows per partition':>18} {'MiB per partition':>18}",
    ]
    for name in BUCKETS:
        rows, size = partition_size(lines_per_second, name)
        over = rows > GUIDANCE_ROWS or size > GUIDANCE_BYTES
        note = "  over Cassandra's guidance (100,000 rows, 100 MB)" if over else ""
        out.append(f"{name:<8} {rows:>18,} {size / 1024**2:>18,.1f}{note}")
    out.append(f"{'tutorial':<8} {'unbounded':>18} {'unbounded':>18}  (one partition per host)")
    return out

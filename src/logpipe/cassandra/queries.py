"""The tutorial's queries without cqlsh: their CQL, time arguments and output formats.

``kafka2cassandra query`` reads one partition (a source and a type), newest first,
optionally within ``[since, until)``; this module writes that CQL, turns what a person
types into times and rows into lines, and ``Store`` runs the CQL (the driver stays there).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from logpipe.cassandra.schema import check_keyspace, check_table

OUTPUTS = ("table", "json")
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True)
class PartitionQuery:
    """The tutorial's queries: one partition (a source and a type, and in a bucketed table
    a bucket), within ``[since, until)``.

    Each method gives the CQL and its parameters; the keyspace name is checked, since it
    goes into the statement text.
    """

    keyspace: str
    source: str
    log_type: str
    since: datetime | None = None
    until: datetime | None = None
    table: str = "logs"
    #: In a bucketed table: the bucket (its start) of the partition to read.
    bucket: datetime | None = None

    @property
    def _table(self) -> str:
        check_keyspace(self.keyspace)
        check_table(self.table)
        return f"{self.keyspace}.{self.table}"

    def _where(self) -> tuple[str, tuple[Any, ...]]:
        where = "log_source = %s AND log_type = %s"
        params: tuple[Any, ...] = (self.source, self.log_type)
        if self.bucket is not None:
            where += " AND bucket = %s"
            params = (*params, self.bucket)
        if self.since is not None:
            where += " AND log_id >= minTimeuuid(%s)"
            params = (*params, self.since)
        if self.until is not None:
            where += " AND log_id < minTimeuuid(%s)"
            params = (*params, self.until)
        return where, params

    def count(self) -> tuple[str, tuple[Any, ...]]:
        """``select count(*)`` over the partition."""
        where, params = self._where()
        return f"SELECT count(*) FROM {self._table} WHERE {where}", params

    def select(self, limit: int | None = None) -> tuple[str, tuple[Any, ...]]:
        """The rows, in the table's order (newest first); ``row_dict`` reads each."""
        where, params = self._where()
        cql = (
            "SELECT log_source, log_type, log_id, toTimestamp(log_id) AS log_time, "
            f"log_datetime, log FROM {self._table} WHERE {where}"
        )
        if limit is not None:
            cql += " LIMIT %s"
            params = (*params, int(limit))
        return cql, params


def row_dict(row: Any) -> dict[str, Any]:
    """A row of ``PartitionQuery.select`` as plain values: log_id as text, log_time in UTC."""
    return {
        "log_source": row.log_source,
        "log_type": row.log_type,
        "log_id": str(row.log_id),
        "log_time": row.log_time.replace(tzinfo=UTC) if row.log_time else None,
        "log_datetime": row.log_datetime,
        "log": row.log,
    }


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """A point in time: ISO 8601 (``2018-08-08T17:44:40+00:00``), the tutorial's
    ``2018-08-08 17:44`` (seconds optional), or an age such as ``15m``, ``2h``, ``7d``.
    A time without an offset is UTC."""
    text = text.strip()
    match = _RELATIVE.match(text)
    if match:
        now = now or datetime.now(UTC)
        return now - timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"not a time: {text!r} (use ISO 8601, 'YYYY-MM-DD HH:MM[:SS]', or an age "
            "like 15m, 2h, 7d)"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def format_rows(rows: Iterable[dict[str, Any]], output: str = "table") -> Iterator[str]:
    """Lines to print: JSON Lines, or a table of time held by log_id, datetime and line."""
    if output == "json":
        for row in rows:
            yield orjson.dumps(row, option=orjson.OPT_NAIVE_UTC).decode()
        return
    if output != "table":
        raise ValueError(f"output must be one of {OUTPUTS}")
    yield f"{'log_time (toTimestamp(log_id))':<32} {'log_datetime':<26} log"
    for row in rows:
        when = row["log_time"]
        shown = when.isoformat(timespec="milliseconds") if when else "-"
        yield f"{shown:<32} {row['log_datetime']:<26} {row['log']}"


def format_count(count: int, output: str = "table") -> str:
    return orjson.dumps({"count": count}).decode() if output == "json" else str(count)

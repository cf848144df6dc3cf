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
COUNT_BY = ("status", "minute", "path")
_STATUS = re.compile(r"^([1-5])(?:xx|XX)$|^([1-5]\d\d)$")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(us|µs|ms|s|m)$")
_DURATION_US = {"us": 1, "µs": 1, "ms": 1_000, "s": 1_000_000, "m": 60_000_000}
#: The field columns ``select`` returns beside the tutorial's, when the table has them.
SHOWN_FIELDS = ("status", "method", "path", "query", "bytes", "duration_us", "client")


def parse_status(text: str) -> tuple[int, int]:
    """``5xx`` -> [500, 600), ``404`` -> [404, 405)."""
    found = _STATUS.match(text.strip())
    if found is None:
        raise ValueError(f"not a status: {text!r} (use a code like 404 or a class like 5xx)")
    if found.group(1):
        low = int(found.group(1)) * 100
        return low, low + 100
    code = int(found.group(2))
    return code, code + 1


def parse_duration(text: str) -> int:
    """``500ms``, ``1.5s``, ``750us``, ``2m`` -> microseconds."""
    found = _DURATION.match(text.strip())
    if found is None:
        raise ValueError(f"not a duration: {text!r} (use e.g. 500ms, 1.5s, 750us)")
    return round(float(found.group(1)) * _DURATION_US[found.group(2)])


def _successor(prefix: str) -> str | None:
    """The least string above every string starting with ``prefix`` (None: no bound)."""
    chars = list(prefix)
    while chars:
        last = ord(chars.pop())
        if last < 0x10FFFF:
            following = last + 1
            if 0xD800 <= following <= 0xDFFF:  # surrogates are no characters
                following = 0xE000
            return "".join(chars) + chr(following)
    return None


@dataclass(frozen=True)
class Filters:
    """What ``query --status/--method/--path-prefix/--min-duration`` ask for.

    Status, method and duration are answered by the table's Storage-Attached Indexes; a
    path prefix is a range of text, which SAI in Cassandra 5.0 does not answer, so it is
    filtered by Cassandra within the partition read (``ALLOW FILTERING``: the query
    always names one partition).
    """

    status: tuple[int, int] | None = None
    method: str | None = None
    path_prefix: str | None = None
    min_duration_us: int | None = None

    @property
    def any(self) -> bool:
        return any(
            v is not None
            for v in (self.status, self.method, self.path_prefix, self.min_duration_us)
        )

    def where(self) -> tuple[str, tuple[Any, ...], bool]:
        """(CQL to AND onto a WHERE, its parameters, whether ALLOW FILTERING is needed)."""
        where, params, filtering = "", (), False
        if self.status is not None:
            where += " AND status >= %s AND status < %s"
            params += self.status
        if self.method is not None:
            where += " AND method = %s"
            params += (self.method,)
        if self.min_duration_us is not None:
            where += " AND duration_us >= %s"
            params += (self.min_duration_us,)
        if self.path_prefix:
            where += " AND path >= %s"
            params += (self.path_prefix,)
            upper = _successor(self.path_prefix)
            if upper is not None:
                where += " AND path < %s"
                params += (upper,)
            filtering = True
        return where, params, filtering


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
    filters: Filters = Filters()
    #: Field columns to select beside the tutorial's (those of ``SHOWN_FIELDS`` the
    #: table has).
    fields: tuple[str, ...] = ()

    @property
    def _table(self) -> str:
        check_keyspace(self.keyspace)
        check_table(self.table)
        return f"{self.keyspace}.{self.table}"

    def where(self) -> tuple[str, tuple[Any, ...], bool]:
        """The WHERE clause, its parameters, and whether it needs ALLOW FILTERING."""
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
        more, extra, filtering = self.filters.where()
        return where + more, params + extra, filtering

    def count(self) -> tuple[str, tuple[Any, ...]]:
        """``select count(*)`` over the partition."""
        where, params, filtering = self.where()
        cql = f"SELECT count(*) FROM {self._table} WHERE {where}"
        return cql + (" ALLOW FILTERING" if filtering else ""), params

    def select(self, limit: int | None = None) -> tuple[str, tuple[Any, ...]]:
        """The rows, in the table's order (newest first); ``row_dict`` reads each."""
        where, params, filtering = self.where()
        fields = "".join(f", {name}" for name in self.fields)
        cql = (
            "SELECT log_source, log_type, log_id, toTimestamp(log_id) AS log_time, "
            f"log_datetime, log{fields} FROM {self._table} WHERE {where}"
        )
        if limit is not None:
            cql += " LIMIT %s"
            params = (*params, int(limit))
        return cql + (" ALLOW FILTERING" if filtering else ""), params

    def select_key(self, by: str) -> tuple[str, tuple[Any, ...]]:
        """The one value ``--count-by`` counts of each matching row."""
        if by not in COUNT_BY:
            raise ValueError(f"count-by must be one of {COUNT_BY}")
        column = "toTimestamp(log_id) AS minute" if by == "minute" else by
        where, params, filtering = self.where()
        cql = f"SELECT {column} FROM {self._table} WHERE {where}"
        return cql + (" ALLOW FILTERING" if filtering else ""), params


def row_dict(row: Any) -> dict[str, Any]:
    """A row of ``PartitionQuery.select`` as plain values: log_id as text, log_time in UTC,
    then the field columns selected."""
    out = {
        "log_source": row.log_source,
        "log_type": row.log_type,
        "log_id": str(row.log_id),
        "log_time": row.log_time.replace(tzinfo=UTC) if row.log_time else None,
        "log_datetime": row.log_datetime,
        "log": row.log,
    }
    for name in row._fields[6:]:
        out[name] = getattr(row, name)
    return out


def count_key(by: str, value: Any) -> Any:
    """The key ``--count-by`` counts a row under: its status, its path, or its minute."""
    if by == "minute":
        return value.replace(tzinfo=UTC, second=0, microsecond=0) if value else None
    return value


def top_counts(counts: dict[Any, int], top: int | None) -> list[tuple[Any, int]]:
    """The largest counts first (ties: by key), at most ``top`` of them."""
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], _sort_key(kv[0])))
    return ordered[:top] if top is not None else ordered


def _sort_key(value: Any) -> tuple[int, Any]:
    return (1, "") if value is None else (0, value)


def format_counts(by: str, counts: list[tuple[Any, int]], output: str = "table") -> Iterator[str]:
    """Lines to print for ``--count-by``: JSON Lines of {by, count}, or a table."""
    for key, count in counts:
        shown = key.isoformat(timespec="minutes") if isinstance(key, datetime) else key
        if output == "json":
            yield orjson.dumps({by: shown, "count": count}).decode()
        else:
            yield f"{'-' if shown is None else shown!s:<40} {count}"


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

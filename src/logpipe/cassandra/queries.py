"""The tutorial's queries without cqlsh: time arguments and output formats.

``kafka2cassandra query`` reads one partition (a source and a type), newest first,
optionally within ``[since, until)``; ``store.Store`` runs the CQL, this module turns
what a person types into times and rows into lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

OUTPUTS = ("table", "json")
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


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

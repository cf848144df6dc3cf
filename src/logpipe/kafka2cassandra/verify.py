"""``kafka2cassandra verify``: did every line of the log files become a row? Per hour.

The lines of a host's log files (plain or gzip) are counted per hour of their request
time (UTC), and so are the host's rows in the table, by the time in ``log_datetime`` (the
line's own time in both ``log_id`` modes). Lines that do not parse have no request time:
they are counted apart on both sides (rows with a ``parse_error``). The hours compared are
those the files cover, from their first line's hour to their last's; an hour whose counts
differ is reported with both.
"""

from __future__ import annotations

import gzip
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from logpipe.cassandra import Store
from logpipe.envelope import parse_datetime
from logpipe.formats.parser import LineParser

UNPARSED = "unparsed"


@dataclass(frozen=True)
class HourDiff:
    hour: str
    lines: int
    rows: int


def hour_of(text: str) -> str:
    """``2015-05-17T10:05:03+02:00`` -> ``2015-05-17T08:00Z`` (the UTC hour)."""
    when = parse_datetime(text).astimezone(UTC)
    return when.replace(minute=0, second=0, microsecond=0).strftime("%Y-%m-%dT%H:00Z")


def read_lines(path: Path) -> Iterator[bytes]:
    """The lines of a log file, plain or gzip (by its first two bytes)."""
    with open(path, "rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    opener = gzip.open if gzipped else open
    with opener(path, "rb") as handle:
        yield from handle


def file_hours(paths: Iterable[Path], fmt: str, source: str, timezone: str | None) -> Counter[str]:
    """Lines per UTC hour of their request time, and the unparsed ones apart."""
    parser = LineParser(fmt, source=source, timezone=timezone)
    counts: Counter[str] = Counter()
    for path in paths:
        for line in read_lines(path):
            entry = parser.parse(line)
            counts[UNPARSED if entry.parse_error is not None else hour_of(entry.datetime)] += 1
    return counts


def table_hours(
    store: Store, keyspace: str, source: str, log_type: str, table: str
) -> Counter[str]:
    """Rows of one source per UTC hour of ``log_datetime``, those with a parse error apart."""
    layout = store.layout(keyspace, table)
    has_error = layout is not None and "parse_error" in layout.columns
    columns = "log_datetime" + (", parse_error" if has_error else "")
    counts: Counter[str] = Counter()
    for row in store.rows_of(keyspace, source, log_type, columns, table):
        if has_error and row.parse_error is not None:
            counts[UNPARSED] += 1
            continue
        try:
            counts[hour_of(row.log_datetime)] += 1
        except ValueError:
            counts[UNPARSED] += 1
    return counts


def differences(lines: Counter[str], rows: Counter[str]) -> list[HourDiff]:
    """The hours the files cover (and the unparsed lines) whose counts differ."""
    hours = sorted(h for h in lines if h != UNPARSED)
    if not hours:
        return []
    first = datetime.strptime(hours[0], "%Y-%m-%dT%H:00Z")
    last = datetime.strptime(hours[-1], "%Y-%m-%dT%H:00Z")
    covered = {h for h in set(lines) | set(rows) if h != UNPARSED}
    within = [
        h for h in sorted(covered) if first <= datetime.strptime(h, "%Y-%m-%dT%H:00Z") <= last
    ]
    out = [HourDiff(h, lines[h], rows[h]) for h in within if lines[h] != rows[h]]
    if lines[UNPARSED] != rows[UNPARSED]:
        out.append(HourDiff(UNPARSED, lines[UNPARSED], rows[UNPARSED]))
    return out


def format_differences(diffs: list[HourDiff]) -> Iterator[str]:
    yield f"{'hour (UTC)':<20} {'lines in files':>15} {'rows in table':>14} {'missing':>8}"
    for d in diffs:
        yield f"{d.hour:<20} {d.lines:>15} {d.rows:>14} {d.lines - d.rows:>8}"

"""Retention: a table's time-to-live and the compaction windows that go with it.

``schema --ttl 30d`` sets the table's ``default_time_to_live`` and TimeWindowCompaction
with windows of about a 25th of it (always 20 to 30 windows): each SSTable then holds the
rows of one window, which expire together, and Cassandra drops the whole file once all of
it has expired instead of compacting expired rows away one by one. Pure logic.
"""

from __future__ import annotations

import math
import re

_TTL = re.compile(r"^(\d+)\s*([mhdw])$")
_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
#: TWCS window units, largest first (a larger unit is tried first).
_UNITS = (("DAYS", 86400), ("HOURS", 3600), ("MINUTES", 60))
MIN_WINDOWS, MAX_WINDOWS = 20, 30
MIN_TTL = 3600
#: Cassandra's limit of a TTL (20 years).
MAX_TTL = 630_720_000


def parse_ttl(text: str) -> int:
    """``90m``, ``12h``, ``30d``, ``2w`` -> seconds (at least an hour: from 30 to 40
    minutes no whole number of minutes makes 20 to 30 windows)."""
    found = _TTL.match(text.strip())
    if found is None:
        raise ValueError(f"not a retention: {text!r} (use e.g. 12h, 30d, 2w)")
    seconds = int(found.group(1)) * _SECONDS[found.group(2)]
    if seconds < MIN_TTL:
        raise ValueError(f"a retention of {text} is shorter than an hour")
    if seconds > MAX_TTL:
        raise ValueError(f"a retention of {text} is longer than Cassandra's 20 years")
    return seconds


def compaction_window(ttl: int) -> tuple[str, int]:
    """(TWCS window unit, size) giving 20 to 30 windows over ``ttl``, nearest 25 windows;
    the largest unit that can."""
    for unit, seconds in _UNITS:
        target = ttl / 25 / seconds
        for size in sorted({max(1, math.floor(target)), max(1, math.ceil(target))},
                           key=lambda s: abs(s - target)):  # fmt: skip
            if MIN_WINDOWS <= ttl / (size * seconds) <= MAX_WINDOWS:
                return unit, size
    raise ValueError(f"no compaction window gives 20 to 30 windows over {ttl} s")


def retention_cql(qualified_table: str, ttl: int) -> str:
    """The ``ALTER TABLE`` that sets the retention (applied again, it changes nothing)."""
    unit, size = compaction_window(ttl)
    return (
        f"ALTER TABLE {qualified_table} WITH default_time_to_live = {ttl} AND compaction = "
        "{'class': 'TimeWindowCompactionStrategy', "
        f"'compaction_window_unit': '{unit}', 'compaction_window_size': {size}}}"
    )

"""The zone of log times written without a UTC offset, and attaching its offset to them.

httpd writes its error log (and any ``%{...}t`` format without ``%z``) in the server's
local time, with no offset. Such a time is read in the host's zone (what httpd itself used)
or in the zone the operator names (``--timezone``), through zoneinfo: the offset is the
one in force at that moment, so summer and winter times each get theirs. A wall time that
occurs twice (the hour repeated when clocks go back) is read as the first of the two
(``fold=0``), the only choice possible without an offset in the line.
"""

from __future__ import annotations

import datetime as _dt
import os
import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LOCALTIME = "/etc/localtime"


def resolve_zone(name: str | _dt.tzinfo | None) -> _dt.tzinfo:
    """The zone called ``name`` (an IANA name such as ``Europe/Berlin``), or the host's
    zone for None. Raises ValueError for a name zoneinfo does not know."""
    if isinstance(name, _dt.tzinfo):
        return name
    if not name:
        return host_zone()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r} (an IANA name: Europe/Berlin, UTC)") from exc


def host_zone() -> _dt.tzinfo:
    """This host's zone as the C library reads it: ``TZ``, else ``/etc/localtime``, else UTC.

    ``TZ`` may be a zone name (``Europe/Berlin``, ``:Europe/Berlin``), a zone file's path,
    or a POSIX rule (``CET-1CEST,M3.5.0,M10.5.0/3``), which only the C library reads.
    """
    value = os.environ.get("TZ")
    if value is not None:
        name = value.removeprefix(":")
        if not name:
            return _dt.UTC
        try:
            if name.startswith("/"):
                return _zone_file(name)
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            return SystemZone()
    try:
        return _zone_file(LOCALTIME)
    except (OSError, ValueError):
        return _dt.UTC  # no zone file: the C library uses UTC as well


def _zone_file(path: str) -> ZoneInfo:
    with open(path, "rb") as handle:
        return ZoneInfo.from_file(handle, key=path)


class SystemZone(_dt.tzinfo):
    """The C library's local time (``time.localtime``): for a ``TZ`` zoneinfo cannot read."""

    def utcoffset(self, dt: _dt.datetime | None) -> _dt.timedelta:
        return _dt.timedelta(seconds=self._local(dt).tm_gmtoff)

    def dst(self, dt: _dt.datetime | None) -> _dt.timedelta | None:
        return None

    def tzname(self, dt: _dt.datetime | None) -> str:
        return self._local(dt).tm_zone

    @staticmethod
    def _local(dt: _dt.datetime | None) -> time.struct_time:
        if dt is None:
            return time.localtime()
        fields = (dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second, 0, 0, -1)
        return time.localtime(time.mktime(fields))


def has_offset(when: str) -> bool:
    """True when an ISO 8601 time ends in a UTC offset (``+02:00``, ``-07:00``, ``Z``)."""
    return when[-6:-5] in ("+", "-") or when[-1:] == "Z"


def with_offset(when: str, zone: _dt.tzinfo) -> str:
    """``2024-07-01T12:00:00`` (local time in ``zone``) -> ``2024-07-01T12:00:00+02:00``.

    The text is kept as it is (fraction included); only the offset in force in ``zone`` at
    that wall time is appended.
    """
    wall = _dt.datetime.fromisoformat(when[:19]).replace(tzinfo=zone)
    offset = wall.utcoffset() or _dt.timedelta(0)
    seconds = int(offset.total_seconds())
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, seconds = divmod(rest, 60)
    suffix = f"{sign}{hours:02d}:{minutes:02d}"
    return when + (f"{suffix}:{seconds:02d}" if seconds else suffix)

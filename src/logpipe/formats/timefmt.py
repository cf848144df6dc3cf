"""Request times from Apache logs to ISO 8601, without ``strptime`` on every line.

``strptime`` was the slowest step of the tutorial forwarder we replace. Apache's ``%t``
has a fixed shape (``10/Oct/2000:13:55:36 -0700``), so the ISO form is a few slices put
together; the date part and the offset repeat from line to line, so each distinct one is
checked (real calendar date, valid offset) once and then served from a small cache.

Custom ``%{format}t`` directives are compiled once into a regular expression plus a list
of the calendar parts each group holds (``TimePart``), and assembled by ``assemble``.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass

MONTHS: dict[str, int] = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
        start=1,
    )
}
FULL_MONTHS: dict[str, int] = {
    name: number
    for number, name in enumerate(
        (
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ),
        start=1,
    )
}

#: The inside of Apache's ``[%t]``: day/Mon/year:HH:MM:SS +hhmm. The regex already bounds
#: hours, minutes, seconds and the offset; the calendar date is checked on first sight.
CLF_TIME = (
    r"\d\d/[A-Z][a-z]{2}/\d{4}:(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d [+-](?:[01]\d|2[0-3])[0-5]\d"
)

_CACHE_LIMIT = 4096
_dates: dict[str, str] = {}
_offsets: dict[str, str] = {}


class TimeError(ValueError):
    """A time that has the right shape but is not a real time (31/Feb, month 'Foo')."""


def _date_prefix(text: str) -> str:
    """``17/May/2015`` -> ``2015-05-17T``, checked once per distinct date."""
    month = MONTHS.get(text[3:6])
    if month is None:
        raise TimeError(f"unknown month {text[3:6]!r}")
    try:
        day = _dt.date(int(text[7:11]), month, int(text[0:2]))
    except ValueError:
        raise TimeError(f"no such date {text!r}") from None
    prefix = day.isoformat() + "T"
    if len(_dates) >= _CACHE_LIMIT:
        _dates.clear()
    _dates[text] = prefix
    return prefix


def _offset(text: str) -> str:
    """``-0700`` -> ``-07:00``."""
    result = f"{text[:3]}:{text[3:5]}"
    if len(_offsets) >= _CACHE_LIMIT:
        _offsets.clear()
    _offsets[text] = result
    return result


def clf_to_iso(text: str) -> str:
    """``17/May/2015:10:05:03 +0000`` (already matched by CLF_TIME) -> ISO 8601.

    Raises TimeError for a date that does not exist.
    """
    day = text[:11]
    prefix = _dates.get(day) or _date_prefix(day)
    zone = text[21:26]
    return prefix + text[12:20] + (_offsets.get(zone) or _offset(zone))


def utc_now_iso(when: _dt.datetime | None = None) -> str:
    """The time a line was read, in UTC, ISO 8601 with seconds."""
    moment = _dt.datetime.now(_dt.UTC) if when is None else when.astimezone(_dt.UTC)
    return moment.isoformat(timespec="seconds")


# --- %{format}t ------------------------------------------------------------------------


@dataclass(frozen=True)
class TimePart:
    """What one regex group of a compiled time format holds (year, month, ..., epoch)."""

    kind: str


_TWO = r"(\d\d)"
_SPACE_TWO = r"( ?\d{1,2})"
_STRFTIME: dict[str, tuple[str, tuple[str, ...]]] = {
    # directive: (regex with groups, what each group holds)
    "Y": (r"(\d{4})", ("year",)),
    "y": (_TWO, ("year2",)),
    "m": (_TWO, ("month",)),
    "d": (_TWO, ("day",)),
    "e": (_SPACE_TWO, ("day",)),
    "H": (_TWO, ("hour",)),
    "k": (_SPACE_TWO, ("hour",)),
    "I": (_TWO, ("hour12",)),
    "l": (_SPACE_TWO, ("hour12",)),
    "M": (_TWO, ("minute",)),
    "S": (_TWO, ("second",)),
    "p": (r"([AaPp][Mm])", ("ampm",)),
    "b": (r"([A-Z][a-z]{2})", ("monthname",)),
    "h": (r"([A-Z][a-z]{2})", ("monthname",)),
    "B": (r"([A-Z][a-z]+)", ("monthname",)),
    "a": (r"[A-Z][a-z]{2}", ()),
    "A": (r"[A-Z][a-z]+", ()),
    "j": (r"\d{3}", ()),
    "u": (r"\d", ()),
    "w": (r"\d", ()),
    "U": (r"\d\d", ()),
    "W": (r"\d\d", ()),
    "V": (r"\d\d", ()),
    "G": (r"\d{4}", ()),
    "Z": (r"[A-Za-z0-9+\-]+", ()),
    "z": (r"([+-]\d{4})", ("offset",)),
    "s": (r"(\d{1,12})", ("epoch",)),
    "T": (r"(\d\d):(\d\d):(\d\d)", ("hour", "minute", "second")),
    "R": (r"(\d\d):(\d\d)", ("hour", "minute")),
    "D": (r"(\d\d)/(\d\d)/(\d\d)", ("month", "day", "year2")),
    "F": (r"(\d{4})-(\d\d)-(\d\d)", ("year", "month", "day")),
    "n": (r"\n", ()),
    "t": (r"\t", ()),
    "%": (r"%", ()),
}

#: Apache's own tokens, each alone in its ``%{...}t``.
_APACHE_TOKENS: dict[str, tuple[str, tuple[str, ...]]] = {
    "sec": (r"(\d{1,12})", ("epoch",)),
    "msec": (r"(\d{1,15})", ("epoch_ms",)),
    "usec": (r"(\d{1,18})", ("epoch_us",)),
    "msec_frac": (r"(\d{3})", ("frac",)),
    "usec_frac": (r"(\d{6})", ("frac",)),
}


def compile_time_format(fmt: str) -> tuple[str, tuple[str, ...]]:
    """An Apache ``%{fmt}t`` argument -> (regex with groups, what each group holds).

    Accepts strftime directives and Apache's ``sec``, ``msec``, ``usec``, ``msec_frac``,
    ``usec_frac``, with an optional ``begin:`` or ``end:`` prefix.
    """
    for prefix in ("begin:", "end:"):
        if fmt.startswith(prefix):
            fmt = fmt[len(prefix) :]
    if fmt in _APACHE_TOKENS:
        return _APACHE_TOKENS[fmt]
    out: list[str] = []
    kinds: list[str] = []
    i = 0
    while i < len(fmt):
        char = fmt[i]
        if char == "%" and i + 1 < len(fmt):
            code = fmt[i + 1]
            if code not in _STRFTIME:
                raise ValueError(f"unsupported strftime directive %{code} in %{{{fmt}}}t")
            pattern, parts = _STRFTIME[code]
            out.append(pattern)
            kinds.extend(parts)
            i += 2
            continue
        out.append(r"\ +" if char == " " else re.escape(char))
        i += 1
    return "".join(out), tuple(kinds)


def assemble(parts: dict[str, str]) -> str | None:
    """Calendar parts gathered from one line -> ISO 8601 (None when there is no date).

    An epoch gives UTC. Without an offset in the line the result has none either (Apache
    wrote local time): ``LineParser`` adds the offset of the zone it reads local times in.
    Raises ValueError for parts that are not a real time.
    """
    frac = parts.get("frac")
    if "epoch" in parts or "epoch_ms" in parts or "epoch_us" in parts:
        if "epoch" in parts:
            seconds, micro = int(parts["epoch"]), 0
        elif "epoch_ms" in parts:
            seconds, millis = divmod(int(parts["epoch_ms"]), 1000)
            micro = millis * 1000
        else:
            seconds, micro = divmod(int(parts["epoch_us"]), 1_000_000)
        when = _dt.datetime.fromtimestamp(seconds, _dt.UTC).replace(microsecond=micro)
        return when.isoformat(timespec="microseconds" if micro else "seconds")
    if "year" in parts:
        year = int(parts["year"])
    elif "year2" in parts:
        short = int(parts["year2"])
        year = 2000 + short if short < 69 else 1900 + short
    else:
        return None
    if "month" in parts:
        month = int(parts["month"])
    elif "monthname" in parts:
        name = parts["monthname"]
        found = MONTHS.get(name[:3]) if len(name) == 3 else FULL_MONTHS.get(name)
        if found is None:
            raise ValueError(f"unknown month {name!r}")
        month = found
    else:
        return None
    day = int(parts.get("day", "1"))
    if "hour" in parts:
        hour = int(parts["hour"])
    elif "hour12" in parts:
        hour = int(parts["hour12"]) % 12
        if parts.get("ampm", "am").lower() == "pm":
            hour += 12
    else:
        hour = 0
    when = _dt.datetime(
        year, month, day, hour, int(parts.get("minute", "0")), int(parts.get("second", "0"))
    )
    text = when.isoformat(timespec="seconds")
    if frac:
        text += "." + frac
    offset = parts.get("offset")
    if offset:
        if int(offset[1:3]) > 23 or int(offset[3:5]) > 59:
            raise ValueError(f"bad UTC offset {offset!r}")
        text += f"{offset[:3]}:{offset[3:5]}"
    return text

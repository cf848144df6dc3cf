"""The seed tutorial forwarder's per-line work, ``parse_log_line`` + ``show_entry`` (a baseline).

What it reproduces, from the published algorithm (DESIGN.md, "Where our users come
from"): take the 4th space-separated token of the line without its ``[``, ``strptime``
it with ``%d/%b/%Y:%H:%M:%S`` and format it as ``%Y-%m-%d %H:%M`` (seconds and offset
lost); build ``{'datetime', 'source': hostname, 'type': 'www_access', 'log':
"'<line>'"}`` (the line wrapped in single quotes); ``json.dumps({'log': entry})`` to a
string; then the producer's ``value_serializer`` ``json.dumps(v)`` encodes that string a
second time into the Kafka value.

Left out, so the baseline is measured at its fastest: the ``print`` of every entry, and
the host name lookup, done once here. A line whose 4th token is not a timestamp raises,
as in the original.
"""

from __future__ import annotations

import json
import socket
from datetime import datetime
from typing import Any

HOSTNAME = socket.gethostname()


def parse_log_line(line: str) -> dict[str, Any]:
    """The tutorial's parse: 4th token, strptime, minutes only, the line in quotes."""
    stamp = line.split(" ")[3][1:]
    entry: dict[str, Any] = {}
    entry["datetime"] = datetime.strptime(stamp, "%d/%b/%Y:%H:%M:%S").strftime("%Y-%m-%d %H:%M")
    entry["source"] = HOSTNAME
    entry["type"] = "www_access"
    entry["log"] = f"'{line.rstrip()}'"
    return entry


def show_entry(entry: dict[str, Any]) -> str:
    """The tutorial's first JSON encoding (its print is left out)."""
    return json.dumps({"log": entry})


def value_serializer(value: str) -> bytes:
    """The tutorial producer's value_serializer: the second JSON encoding."""
    return json.dumps(value).encode("utf-8")


def forward_one(raw: bytes) -> bytes:
    """One line as the tutorial turned it into a Kafka value."""
    return value_serializer(show_entry(parse_log_line(raw.decode("utf-8"))))

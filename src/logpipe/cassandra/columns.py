"""The parsed fields of a line as columns of ``logs``: which column holds which field.

logs2kafka parses each line into ``fields`` (names from ``logpipe.formats.directives``);
the table keeps the fields the presets produce in typed columns, every other field in the
``other_fields`` map (as text), and the reason of a line that did not parse in
``parse_error``. ``field_values`` gives only the columns a line has a value for: a
missing value is left unset by the writer, never written as a null, so no tombstone is
written for it. Pure work on dicts: nothing here talks to a node.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The field columns in the order the writer binds them, with their CQL types. The map is
#: frozen: a frozen collection is one cell, so writing it leaves no tombstone (a plain
#: map written by INSERT first deletes whatever the map held).
FIELD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("status", "int"),
    ("method", "text"),
    ("path", "text"),
    ("query", "text"),
    ("protocol", "text"),
    ("bytes", "bigint"),
    ("referer", "text"),
    ("user_agent", "text"),
    ("client", "text"),
    ("remote_user", "text"),
    ("duration_us", "bigint"),
    ("vhost", "text"),
    ("port", "int"),
    ("level", "text"),
    ("module", "text"),
    ("pid", "int"),
    ("other_fields", "frozen<map<text, text>>"),
    ("parse_error", "text"),
)
FIELD_COLUMN_NAMES: tuple[str, ...] = tuple(name for name, _ in FIELD_COLUMNS)

_INT_MAX = 2**31 - 1
_BIGINT_MAX = 2**63 - 1
_TEXT, _INT, _BIGINT = "text", "int", "bigint"

#: field -> (column, kind, rank, factor). Several fields may feed one column: the lowest
#: rank present wins (``%a`` over ``%h``, ``%b`` over ``%O``, ``%D`` over ``%{ms}T`` over
#: ``%T``), the others go to ``other_fields``; ``factor`` turns a duration into µs.
_FIELD_COLUMN: dict[str, tuple[str, str, int, int]] = {
    "status": ("status", _INT, 0, 1),
    "method": ("method", _TEXT, 0, 1),
    "path": ("path", _TEXT, 0, 1),
    "url_path": ("path", _TEXT, 1, 1),
    "query": ("query", _TEXT, 0, 1),
    "protocol": ("protocol", _TEXT, 0, 1),
    "bytes": ("bytes", _BIGINT, 0, 1),
    "bytes_sent": ("bytes", _BIGINT, 1, 1),
    "referer": ("referer", _TEXT, 0, 1),
    "user_agent": ("user_agent", _TEXT, 0, 1),
    "remote_ip": ("client", _TEXT, 0, 1),
    "remote_host": ("client", _TEXT, 1, 1),
    "remote_user": ("remote_user", _TEXT, 0, 1),
    "duration_us": ("duration_us", _BIGINT, 0, 1),
    "duration_ms": ("duration_us", _BIGINT, 1, 1_000),
    "duration_s": ("duration_us", _BIGINT, 2, 1_000_000),
    "vhost": ("vhost", _TEXT, 0, 1),
    "port": ("port", _INT, 0, 1),
    "level": ("level", _TEXT, 0, 1),
    "module": ("module", _TEXT, 0, 1),
    "pid": ("pid", _INT, 0, 1),
}
_LIMIT = {_INT: _INT_MAX, _BIGINT: _BIGINT_MAX, _TEXT: 0}
#: The same, with each kind as the largest value it takes (0: text), for the loop below.
_SPECS = {
    field: (column, _LIMIT[kind], rank, factor)
    for field, (column, kind, rank, factor) in _FIELD_COLUMN.items()
}


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def field_values(
    fields: Mapping[str, Any] | None, parse_error: str | None = None
) -> dict[str, Any]:
    """The field columns of one line that have a value (column name -> value).

    ``path`` is the request's path without its query string; the query string (with its
    ``?``, as ``%q`` writes it) goes to ``query`` unless the format logged ``%q`` itself.
    ``client`` is ``%a`` (the client's address) if logged, else ``%h`` (or the error
    log's client). ``bytes`` is ``%b``/``%B``, else ``%O`` (vhost_combined logs only
    ``%O``). A value that does not fit its column's type (a port beyond an int) and every
    field without a column of its own go to ``other_fields``, as text; nulls go nowhere.
    One pass over the fields: this runs for every row the poller writes.
    """
    out: dict[str, Any] = {}
    if parse_error is not None:
        out["parse_error"] = parse_error
    if not fields:
        return out
    other: dict[str, str] = {}
    ranks: dict[str, tuple[int, str]] = {}
    for name, value in fields.items():
        if value is None:
            continue
        spec = _SPECS.get(name)
        if spec is not None:
            column, limit, rank, factor = spec
            if limit == 0:
                fits = type(value) is str
            else:
                fits = type(value) is int and -limit - 1 <= value * factor <= limit
            if fits:
                held = ranks.get(column)
                if held is None or rank < held[0]:
                    if held is not None:
                        other[held[1]] = _as_text(fields[held[1]])
                    ranks[column] = (rank, name)
                    out[column] = value * factor if factor != 1 else value
                    continue
        other[name] = _as_text(value)
    path = out.get("path")
    if path is not None and "?" in path and "query" not in out:
        out["path"], _, rest = path.partition("?")
        out["query"] = "?" + rest
    if other:
        out["other_fields"] = other
    return out

"""The ``logs`` table: keyspace names, replication, and the statements of ``schema.cql``.

One canonical ``schema.cql`` ships inside the package; ``cqlsh -f`` runs it as is for the
local node, and ``kafka2cassandra schema`` runs it with the keyspace and replication asked
for. Pure text work: nothing here talks to a node.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

_KEYSPACE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,47}$")
_TABLE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,47}$")
_DC_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")
_REPLICATION_RE = re.compile(r"replication\s*=\s*\{[^}]*\}", re.IGNORECASE)
# The keyspace schema.cql is written for (its text, whatever the --keyspace default).
_DEFAULT_KEYSPACE_RE = re.compile(r"\badmintome\b")


def check_keyspace(keyspace: str) -> None:
    """Refuse a keyspace name CQL would not take unquoted: it is put into statement text."""
    if not _KEYSPACE_RE.match(keyspace):
        raise ValueError(f"not a valid keyspace name: {keyspace!r}")


def check_table(table: str) -> None:
    """Refuse a table name CQL would not take unquoted: it is put into statement text."""
    if not _TABLE_RE.match(table):
        raise ValueError(f"not a valid table name: {table!r}")


def logs_table(keyspace: str) -> str:
    """The qualified name of the ``logs`` table of a (checked) keyspace."""
    check_keyspace(keyspace)
    return f"{keyspace}.logs"


@dataclass(frozen=True)
class Replication:
    """SimpleStrategy with a factor, or NetworkTopologyStrategy with a factor per DC."""

    factor: int | None = None
    datacenters: tuple[tuple[str, int], ...] = ()

    @classmethod
    def parse(cls, factor: int | None, datacenters: Sequence[str] = ()) -> Replication:
        """From ``--replication-factor N`` or ``--datacenter DC:N`` (repeatable)."""
        if factor is not None and datacenters:
            raise ValueError("give either a replication factor or datacenters, not both")
        if datacenters:
            parsed: list[tuple[str, int]] = []
            for item in datacenters:
                name, sep, count = item.rpartition(":")
                if not sep or not _DC_RE.match(name) or not count.isdigit() or int(count) < 1:
                    raise ValueError(f"datacenter must be NAME:FACTOR, got {item!r}")
                parsed.append((name, int(count)))
            return cls(datacenters=tuple(parsed))
        factor = 1 if factor is None else factor
        if factor < 1:
            raise ValueError("replication factor must be at least 1")
        return cls(factor=factor)

    def as_map(self) -> dict[str, str]:
        """As ``system_schema.keyspaces`` reports it, to compare with an existing keyspace."""
        if self.datacenters:
            return {
                "class": "org.apache.cassandra.locator.NetworkTopologyStrategy",
                **{name: str(count) for name, count in self.datacenters},
            }
        return {
            "class": "org.apache.cassandra.locator.SimpleStrategy",
            "replication_factor": str(self.factor),
        }

    def cql(self) -> str:
        """As a CQL map literal, for ``CREATE KEYSPACE ... WITH replication =``."""
        if self.datacenters:
            pairs = ", ".join(f"'{name}': {count}" for name, count in self.datacenters)
            return "{'class': 'NetworkTopologyStrategy', " + pairs + "}"
        return "{'class': 'SimpleStrategy', 'replication_factor': " + str(self.factor) + "}"


def schema_text(name: str = "schema.cql") -> str:
    """A packaged CQL file (``cql/`` at the top links to them): ``schema.cql`` (keyspace,
    the tutorial's table, the field columns) or ``schema_bucketed.cql``."""
    return resources.files("logpipe").joinpath(f"cql/{name}").read_text(encoding="utf-8")


def _statements(text: str) -> list[str]:
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return [" ".join(part.split()) for part in text.split(";") if part.strip()]


def schema_statements(
    keyspace: str,
    replication: Replication,
    table: str = "logs",
    bucket: str | None = None,
) -> list[str]:
    """The statements that make ``keyspace.table``: the keyspace, the table, its field
    columns (``ALTER TABLE ... ADD IF NOT EXISTS``, for a table made before them), the
    indexes of ``query``'s filters.

    ``bucket`` None: the tutorial's table of ``schema.cql``; else the bucketed table of
    ``schema_bucketed.cql`` with that bucket size in its comment. The files are plain CQL
    for the local node (keyspace ``admintome``, replication factor 1), so ``cqlsh -f``
    works on them as is; here the names, the bucket and the replication map are
    substituted.
    """
    check_keyspace(keyspace)
    check_table(table)
    keyspace_cql, tutorial_cql, columns_cql, *index_cql = _statements(schema_text())
    keyspace_cql = _REPLICATION_RE.sub(
        lambda _m: "replication = " + replication.cql(), keyspace_cql
    )
    if bucket is None:
        table_cql = tutorial_cql.replace("admintome.logs ", f"admintome.{table} ", 1)
    else:
        (table_cql,) = _statements(schema_text("schema_bucketed.cql"))
        table_cql = table_cql.replace("admintome.logs_by_bucket ", f"admintome.{table} ", 1)
        table_cql = table_cql.replace("bucket=1h'", f"bucket={bucket}'")
    columns_cql = columns_cql.replace("admintome.logs ", f"admintome.{table} ", 1)
    index_cql = [
        statement.replace("EXISTS logs_", f"EXISTS {table}_", 1).replace(
            "ON admintome.logs (", f"ON admintome.{table} (", 1
        )
        for statement in index_cql
    ]
    return [
        _DEFAULT_KEYSPACE_RE.sub(keyspace, statement)
        for statement in (keyspace_cql, table_cql, columns_cql, *index_cql)
    ]

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
_DC_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")
_REPLICATION_RE = re.compile(r"replication\s*=\s*\{[^}]*\}", re.IGNORECASE)
# The keyspace schema.cql is written for (its text, whatever the --keyspace default).
_DEFAULT_KEYSPACE_RE = re.compile(r"\badmintome\b")


def check_keyspace(keyspace: str) -> None:
    """Refuse a keyspace name CQL would not take unquoted: it is put into statement text."""
    if not _KEYSPACE_RE.match(keyspace):
        raise ValueError(f"not a valid keyspace name: {keyspace!r}")


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


def schema_text() -> str:
    """The packaged ``schema.cql`` (``cql/schema.cql`` at the top is a link to it)."""
    return resources.files("logpipe").joinpath("cql/schema.cql").read_text(encoding="utf-8")


def schema_statements(keyspace: str, replication: Replication) -> list[str]:
    """The statements of ``schema.cql`` for this keyspace and replication.

    The file is plain CQL for the local node (keyspace ``admintome``, replication factor
    1), so ``cqlsh -f`` works on it as is; here the keyspace name and the replication map
    are substituted.
    """
    check_keyspace(keyspace)
    text = "\n".join(
        line for line in schema_text().splitlines() if not line.lstrip().startswith("--")
    )
    text = _DEFAULT_KEYSPACE_RE.sub(keyspace, text)
    text = _REPLICATION_RE.sub(lambda _m: "replication = " + replication.cql(), text)
    return [" ".join(part.split()) for part in text.split(";") if part.strip()]

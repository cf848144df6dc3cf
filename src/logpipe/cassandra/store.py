"""``Store``: a connected Cassandra session with logpipe's statements.

What the daemons and the tools do with Cassandra goes through here: create the schema,
get a ``RowWriter`` for a keyspace, count and read rows of one partition.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from cassandra.query import SimpleStatement

from logpipe.cassandra.columns import FIELD_COLUMNS
from logpipe.cassandra.queries import PartitionQuery, row_dict
from logpipe.cassandra.schema import Replication, check_keyspace, schema_statements
from logpipe.cassandra.session import consistency_level, open_session, split_contact_points
from logpipe.cassandra.writer import RowWriter
from logpipe.config import settings
from logpipe.config.connections import CassandraConnection
from logpipe.observability import get_logger

log = get_logger("store")


class Store:
    """A connected Cassandra session with logpipe's statements."""

    def __init__(
        self,
        conn: CassandraConnection,
        *,
        consistency: str = settings.CONSISTENCY.default,
        request_timeout: float = 10.0,
        connect_timeout: float = 5.0,
        executor_threads: int = 2,
    ) -> None:
        hosts, port = split_contact_points(conn.contact_points)
        self.conn = conn
        self.consistency = consistency_level(consistency)
        self.cluster, self.session = open_session(
            conn,
            hosts,
            port,
            self.consistency,
            request_timeout=request_timeout,
            connect_timeout=connect_timeout,
            executor_threads=executor_threads,
        )

    @property
    def protocol_version(self) -> int:
        return int(self.cluster.protocol_version)

    def is_up(self) -> bool:
        """True when the driver sees at least one node up (cheap; used by /readyz)."""
        return any(host.is_up for host in self.cluster.metadata.all_hosts())

    def close(self) -> None:
        self.cluster.shutdown()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema --------------------------------------------------------------------

    def apply_schema(self, keyspace: str, replication: Replication) -> list[str]:
        """Create the keyspace and table if they do not exist; return the statements run."""
        statements = schema_statements(keyspace, replication)
        for statement in statements:
            self.session.execute(SimpleStatement(statement), timeout=60.0)
        self.cluster.control_connection.wait_for_schema_agreement(wait_time=30)
        existing = self.keyspace_replication(keyspace)
        if existing is not None and existing != replication.as_map():
            log.warning(
                "keyspace exists with another replication; left unchanged",
                extra={"keyspace": keyspace, "existing": existing, "asked": replication.as_map()},
            )
        return statements

    def keyspace_replication(self, keyspace: str) -> dict[str, str] | None:
        row = self.session.execute(
            "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s",
            (keyspace,),
        ).one()
        return dict(row.replication) if row else None

    def table_columns(self, keyspace: str, table: str = "logs") -> dict[str, str]:
        """The columns of a table as ``system_schema.columns`` has them (name -> type)."""
        rows = self.session.execute(
            "SELECT column_name, type FROM system_schema.columns "
            "WHERE keyspace_name = %s AND table_name = %s",
            (keyspace, table),
        )
        return {row.column_name: row.type for row in rows}

    def field_columns(self, keyspace: str) -> tuple[str, ...]:
        """The field columns ``logs`` has with the type logpipe writes (see ``columns``).

        A table made before them has none (until ``kafka2cassandra schema`` adds them); a
        column of that name with another type is left alone and not written.
        """
        present = self.table_columns(keyspace)
        found, odd = [], []
        for name, cql_type in FIELD_COLUMNS:
            if name not in present:
                continue
            if "".join(present[name].split()) == "".join(cql_type.split()):
                found.append(name)
            else:
                odd.append(f"{name} {present[name]}")
        if odd:
            log.warning(
                "columns with another type than logpipe writes are left alone",
                extra={"keyspace": keyspace, "columns": odd},
            )
        return tuple(found)

    def drop_keyspace(self, keyspace: str) -> None:
        """Used by tests and benchmarks to leave the node as they found it."""
        check_keyspace(keyspace)
        self.session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=60.0)

    # -- writing -------------------------------------------------------------------

    def writer(
        self,
        keyspace: str,
        *,
        log_id_mode: str = settings.LOG_ID.default,
        max_in_flight: int = settings.MAX_WRITES_IN_FLIGHT.default,
    ) -> RowWriter:
        """A writer for ``keyspace.logs``, writing the field columns the table has."""
        columns = self.field_columns(keyspace)
        return RowWriter(
            self.session, keyspace, log_id_mode, self.consistency, max_in_flight, columns
        )

    # -- reading -------------------------------------------------------------------

    def count(
        self,
        keyspace: str,
        source: str,
        log_type: str,
        since: datetime | None = None,
        until: datetime | None = None,
        timeout: float = 120.0,
    ) -> int:
        """``select count(*)`` over one partition, optionally within a time window."""
        cql, params = PartitionQuery(keyspace, source, log_type, since, until).count()
        statement = SimpleStatement(cql, fetch_size=5000)
        return int(self.session.execute(statement, params, timeout=timeout).one()[0])

    def select(
        self,
        keyspace: str,
        source: str,
        log_type: str,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        page_size: int = 1000,
    ) -> Iterator[dict[str, Any]]:
        """Rows of one partition, newest first, fetched page by page."""
        cql, params = PartitionQuery(keyspace, source, log_type, since, until).select(limit)
        statement = SimpleStatement(cql, fetch_size=page_size)
        for row in self.session.execute(statement, params, timeout=60.0):
            yield row_dict(row)

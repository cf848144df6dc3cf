"""``Store``: a connected Cassandra session with logpipe's statements.

What the daemons and the tools do with Cassandra goes through here: create the schema,
get a ``RowWriter`` for a keyspace, count and read rows of one partition.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from cassandra.query import SimpleStatement

from logpipe.cassandra.columns import FIELD_COLUMNS
from logpipe.cassandra.errors import SchemaMissing
from logpipe.cassandra.layout import Layout
from logpipe.cassandra.queries import (
    SHOWN_FIELDS,
    Filters,
    PartitionQuery,
    count_key,
    row_dict,
    top_counts,
)
from logpipe.cassandra.retention import retention_cql
from logpipe.cassandra.schema import (
    Replication,
    check_keyspace,
    check_table,
    schema_statements,
)
from logpipe.cassandra.session import consistency_level, open_session, split_contact_points
from logpipe.cassandra.writer import RowWriter
from logpipe.config import settings
from logpipe.config.connections import CassandraConnection
from logpipe.observability import get_logger

log = get_logger("store")

T = TypeVar("T")
NO_FILTERS = Filters()


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
        read_concurrency: int = 8,
    ) -> None:
        hosts, port = split_contact_points(conn.contact_points)
        self.conn = conn
        #: Partitions (buckets) ``query`` reads at once.
        self.read_concurrency = max(1, read_concurrency)
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

    def apply_schema(
        self,
        keyspace: str,
        replication: Replication,
        table: str = "logs",
        bucket: str | None = None,
        ttl: int | None = None,
    ) -> list[str]:
        """Create the keyspace and table if they do not exist, add the field columns the
        table lacks, set the retention if ``ttl`` (seconds) is given; return the
        statements run.

        ``bucket`` None makes the tutorial's layout, else a bucketed table of that bucket
        size. A table that exists with another layout or bucket is refused (``ValueError``)
        before anything is run: its rows are where its layout put them.
        """
        statements = schema_statements(keyspace, replication, table, bucket)
        if ttl is not None:
            statements.append(retention_cql(f"{keyspace}.{table}", ttl))
        existing = self.layout(keyspace, table)
        if existing is not None and existing.bucket != bucket:
            asked = Layout(keyspace, table, bucket)
            raise ValueError(
                f"{keyspace}.{table} exists with layout {existing.name}"
                + (f" (bucket {existing.bucket})" if existing.bucket else "")
                + f", not {asked.name}"
                + (f" (bucket {bucket})" if bucket else "")
                + "; its layout cannot change: make another table (--table) and copy into it"
            )
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

    def layout(self, keyspace: str, table: str = "logs") -> Layout | None:
        """The layout of an existing table, from its comment; None if there is no table."""
        check_keyspace(keyspace)
        row = self.session.execute(
            "SELECT comment, default_time_to_live FROM system_schema.tables "
            "WHERE keyspace_name = %s AND table_name = %s",
            (keyspace, table),
        ).one()
        if row is None:
            return None
        return Layout.from_comment(
            keyspace,
            table,
            row.comment,
            self.field_columns(keyspace, table),
            row.default_time_to_live or 0,
        )

    def field_columns(self, keyspace: str, table: str = "logs") -> tuple[str, ...]:
        """The field columns ``logs`` has with the type logpipe writes (see ``columns``).

        A table made before them has none (until ``kafka2cassandra schema`` adds them); a
        column of that name with another type is left alone and not written.
        """
        present = self.table_columns(keyspace, table)
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
        table: str = settings.TABLE.default,
        log_id_mode: str = settings.LOG_ID.default,
        max_in_flight: int = settings.MAX_WRITES_IN_FLIGHT.default,
    ) -> RowWriter:
        """A writer for ``keyspace.table`` in the table's own layout, writing the field
        columns it has. ``SchemaMissing`` if there is no such table."""
        layout = self.layout(keyspace, table)
        if layout is None:
            raise SchemaMissing(
                f"cannot write to {keyspace}.{table}: no such table; "
                "create it with `kafka2cassandra schema`"
            )
        return RowWriter(self.session, layout, log_id_mode, self.consistency, max_in_flight)

    # -- reading -------------------------------------------------------------------

    def page(
        self,
        keyspace: str,
        table: str,
        columns: str,
        paging_state: bytes | None = None,
        page_size: int = 1000,
    ) -> tuple[list[Any], bytes | None]:
        """One page of a whole-table scan (in token order) and the paging state of the
        next one (None: this was the last). The state resumes the scan in another
        process: ``copy`` keeps it in its state file."""
        check_keyspace(keyspace)
        check_table(table)
        statement = SimpleStatement(
            f"SELECT {columns} FROM {keyspace}.{table}", fetch_size=page_size
        )
        result = self.session.execute(statement, paging_state=paging_state, timeout=120.0)
        return list(result.current_rows), result.paging_state

    def rows_of(
        self,
        keyspace: str,
        source: str,
        log_type: str,
        columns: str,
        table: str = settings.TABLE.default,
        page_size: int = 5000,
    ) -> Iterator[Any]:
        """Every row of one source and type (all its partitions), page by page."""
        for query in self.partitions(keyspace, source, log_type, table=table):
            where, params, _ = query.where()
            cql = f"SELECT {columns} FROM {keyspace}.{table} WHERE {where}"
            yield from self._rows(cql, params, page_size)

    def partitions(
        self,
        keyspace: str,
        source: str,
        log_type: str,
        since: datetime | None = None,
        until: datetime | None = None,
        table: str = settings.TABLE.default,
        filters: Filters = NO_FILTERS,
    ) -> list[PartitionQuery]:
        """The partitions that hold one source's rows of ``[since, until)``, newest first:
        the tutorial's one, or the buckets of a bucketed table.

        With a start the buckets are computed (up to the end, or to the bucket after the
        current one); without one, the buckets that exist are listed (``SELECT
        DISTINCT`` of the partition keys: a scan of the table's partition index, not of
        its rows). Filters need the field columns.
        """
        layout = self.layout(keyspace, table)
        if layout is None:
            raise SchemaMissing(f"{keyspace}.{table} does not exist")
        if filters.any and not {"status", "method", "path", "duration_us"} <= set(layout.columns):
            raise SchemaMissing(
                f"{keyspace}.{table} has no field columns to filter on; "
                "`kafka2cassandra schema` adds them (rows written before have none)"
            )
        fields = tuple(name for name in SHOWN_FIELDS if name in layout.columns)
        if layout.bucket is None:
            buckets: list[datetime | None] = [None]
        elif since is not None:
            # Up to the bucket after the current one when no end is given: a line's time
            # may run a little ahead of this host's clock.
            ahead = datetime.now(UTC) + timedelta(seconds=2 * layout.bucket_seconds)
            buckets = list(layout.buckets(since, until or ahead))
        else:
            statement = SimpleStatement(
                f"SELECT DISTINCT log_source, log_type, bucket FROM {layout.qualified}",
                fetch_size=5000,
            )
            found = [
                row.bucket.replace(tzinfo=UTC)
                for row in self.session.execute(statement, timeout=120.0)
                if row.log_source == source and row.log_type == log_type
            ]
            size = timedelta(seconds=layout.bucket_seconds)
            buckets = sorted(
                (
                    b
                    for b in found
                    if (since is None or b + size > since) and (until is None or b < until)
                ),
                reverse=True,
            )
        return [
            PartitionQuery(keyspace, source, log_type, since, until, table, bucket, filters, fields)
            for bucket in buckets
        ]

    def _each(
        self, queries: list[PartitionQuery], read: Callable[[PartitionQuery], T]
    ) -> Iterator[T]:
        """``read`` of each partition, in the order given, at most ``self.read_concurrency``
        partitions at once (a window that slides as the oldest is handed out)."""
        if len(queries) <= 1:
            yield from (read(q) for q in queries)
            return
        with ThreadPoolExecutor(max_workers=self.read_concurrency) as pool:
            window: deque[Future[T]] = deque()
            pending = iter(queries)
            for query in pending:
                window.append(pool.submit(read, query))
                if len(window) >= self.read_concurrency:
                    break
            try:
                while window:
                    result = window.popleft().result()
                    following = next(pending, None)
                    if following is not None:
                        window.append(pool.submit(read, following))
                    yield result
            finally:
                for future in window:
                    future.cancel()

    def _rows(self, cql: str, params: tuple[Any, ...], page: int) -> Any:
        """The rows of a statement, fetched ``page`` at a time as they are read."""
        return self.session.execute(SimpleStatement(cql, fetch_size=page), params, timeout=60.0)

    def count(
        self,
        keyspace: str,
        source: str,
        log_type: str,
        since: datetime | None = None,
        until: datetime | None = None,
        timeout: float = 120.0,
        table: str = settings.TABLE.default,
        filters: Filters = NO_FILTERS,
    ) -> int:
        """``select count(*)`` over one source's partitions, optionally within a window
        and with filters."""

        def read(query: PartitionQuery) -> int:
            cql, params = query.count()
            statement = SimpleStatement(cql, fetch_size=5000)
            return int(self.session.execute(statement, params, timeout=timeout).one()[0])

        queries = self.partitions(keyspace, source, log_type, since, until, table, filters)
        return sum(self._each(queries, read))

    def count_by(
        self,
        keyspace: str,
        source: str,
        log_type: str,
        by: str,
        since: datetime | None = None,
        until: datetime | None = None,
        table: str = settings.TABLE.default,
        filters: Filters = NO_FILTERS,
        top: int | None = None,
        page_size: int = 5000,
    ) -> list[tuple[Any, int]]:
        """Rows per status, per path or per minute (of ``log_id``'s time), largest first."""

        def read(query: PartitionQuery) -> Counter[Any]:
            cql, params = query.select_key(by)
            return Counter(count_key(by, row[0]) for row in self._rows(cql, params, page_size))

        queries = self.partitions(keyspace, source, log_type, since, until, table, filters)
        if by != "minute" and queries and by not in queries[0].fields:
            raise SchemaMissing(
                f"{keyspace}.{table} has no {by} column to count by; "
                "`kafka2cassandra schema` adds it"
            )
        total: Counter[Any] = Counter()
        for counts in self._each(queries, read):
            total.update(counts)
        return top_counts(total, top)

    def select(
        self,
        keyspace: str,
        source: str,
        log_type: str,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        page_size: int = 1000,
        table: str = settings.TABLE.default,
        filters: Filters = NO_FILTERS,
    ) -> Iterator[dict[str, Any]]:
        """One source's rows, newest first, fetched page by page; the partitions of a
        bucketed table are read several at once, and handed out in order."""

        def read(query: PartitionQuery) -> list[dict[str, Any]]:
            cql, params = query.select(limit)
            return [row_dict(row) for row in self._rows(cql, params, page_size)]

        queries = self.partitions(keyspace, source, log_type, since, until, table, filters)
        if len(queries) == 1:
            cql, params = queries[0].select(limit)
            yield from (row_dict(row) for row in self._rows(cql, params, page_size))
            return
        left = limit
        for rows in self._each(queries, read):
            for row in rows:
                if left is not None and left <= 0:
                    return
                yield row
                if left is not None:
                    left -= 1
            if left is not None and left <= 0:
                return

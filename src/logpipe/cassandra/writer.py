"""The row sink: prepared inserts sent with a bounded number of requests in flight.

``is_idempotent`` is set only on statements that are: an ``event``-mode insert carries
its own ``log_id`` and write timestamp, a ``now()`` insert does not, so the driver's
retries and speculative executions may never repeat it.
"""

from __future__ import annotations

import math
import struct
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cassandra import InvalidRequest
from cassandra.cluster import Session
from cassandra.query import UNSET_VALUE, BatchStatement, BatchType, PreparedStatement
from cassandra.util import uuid_from_time

from logpipe.cassandra.columns import FIELD_COLUMN_NAMES, FIELD_COLUMNS, field_values
from logpipe.cassandra.errors import SchemaMissing
from logpipe.cassandra.layout import Layout
from logpipe.config import settings
from logpipe.observability import get_logger

log = get_logger("store")

_BIGINT = struct.Struct(">q")
_INT = struct.Struct(">i")
# 100-ns intervals between the UUID epoch (1582-10-15) and the Unix epoch.
_UUID_EPOCH_OFFSET = 0x01B21DD213814000


@dataclass(slots=True)
class Row:
    """One row of ``logs``; ``log_id`` and ``timestamp_us`` are set in ``event`` mode only.

    ``fields`` and ``parse_error`` are the envelope's: the writer puts them in the field
    columns the table has (``logpipe.cassandra.columns``).
    """

    source: str
    type: str
    datetime: str
    log: str
    log_id: uuid.UUID | None = None
    timestamp_us: int | None = None
    fields: dict[str, Any] | None = None
    parse_error: str | None = None
    #: Start of the row's bucket (epoch seconds) in a bucketed table; set by the writer.
    bucket: int | None = None


WriteCallback = Callable[[BaseException | None, float], None]


def _never_called() -> None:
    """What a released future's timer calls: nothing (a cancelled timer never fires)."""


def release(future: Any) -> None:
    """Let a completed request's memory go now, by reference counting.

    A response future and its timeout timer refer to each other, and the cancelled timer
    stays in the driver's timer heap until its deadline (the request timeout, seconds
    away): each completed future keeps its statement (every row's bytes) and our
    callback (every record) alive until the cyclic collector finds it, and at thousands
    of requests a second that is hundreds of megabytes. Dropping our callbacks and the
    timer's link back to the future frees all of it as soon as the driver lets go.
    The attributes are the driver's (3.x); another driver leaves them alone, and memory
    is then only reclaimed by the collector.
    """
    future.clear_callbacks()
    timer = getattr(future, "_timer", None)
    if timer is not None and hasattr(timer, "callback"):
        timer.callback = _never_called
        future._timer = None


class RowWriter:
    """Writes rows with at most ``max_in_flight`` requests outstanding, never blocking.

    ``submit`` sends at once while there is room and queues otherwise; every completion
    sends the next queued request from the driver's event loop. Several rows given
    together become one single-partition unlogged batch, so the caller groups rows by
    partition key (``partition_of``) before submitting them together.
    The callback gets the error (or None) and the request's latency in seconds; it runs
    on a driver thread and must be quick.

    ``layout`` is the table's (``Store.layout``): in a bucketed table each row also gets
    its bucket, and the caller groups rows by ``partition_of``. ``layout.columns`` are the
    field columns the table has: each row writes those it has a value for and leaves the
    others unset (``UNSET_VALUE``: no cell, no tombstone); a table without them gets the
    tutorial's five columns only.
    """

    def __init__(
        self,
        session: Session,
        layout: Layout,
        log_id_mode: str,
        consistency: int,
        max_in_flight: int,
    ) -> None:
        modes = settings.LOG_ID.choices
        if log_id_mode not in modes:
            raise ValueError(f"log_id mode must be one of {modes}, got {log_id_mode!r}")
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.mode = log_id_mode
        self.layout = layout
        self.max_in_flight = max_in_flight
        self._session = session
        self._consistency = consistency
        table = layout.qualified
        unknown = set(layout.columns) - set(FIELD_COLUMN_NAMES)
        if unknown:
            raise ValueError(f"not field columns: {sorted(unknown)}")
        self.columns = tuple(name for name in FIELD_COLUMN_NAMES if name in layout.columns)
        self._bucketed = layout.bucket is not None
        #: log_id is bound (not CQL now()) in event mode, and in a bucketed table, whose
        #: bucket must be the bucket of the time log_id holds.
        self._bound_id = log_id_mode == "event" or self._bucketed
        names = ["log_source", "log_type"] + (["bucket"] if self._bucketed else [])
        names += ["log_datetime", "log_id", "log", *self.columns]
        marks = ["?"] * len(names)
        if not self._bound_id:
            marks[names.index("log_id")] = "now()"
        cql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join(marks)})"
        #: In event mode a table with a retention gets a TTL per row: the retention left
        #: from the time of the row's line (``ttl_of``).
        self._row_ttl = log_id_mode == "event" and layout.ttl > 0
        if log_id_mode == "event":
            cql += " USING TIMESTAMP ? AND TTL ?" if self._row_ttl else " USING TIMESTAMP ?"
        try:
            self._insert: PreparedStatement = session.prepare(cql)
        except InvalidRequest as exc:
            if "does not exist" not in str(exc) and "Undefined column" not in str(exc):
                raise
            raise SchemaMissing(
                f"cannot write to {table}: {exc.args[0] if exc.args else exc}; "
                "create it with `kafka2cassandra schema`"
            ) from None
        self._insert.consistency_level = consistency
        self._insert.is_idempotent = log_id_mode == "event"
        protocol = session.cluster.protocol_version
        metadata = self._insert.column_metadata
        trailing = (1 if log_id_mode == "event" else 0) + (1 if self._row_ttl else 0)
        first = len(metadata) - len(self.columns) - trailing
        #: How each field column is carried, for the pre-encoded rows of a batch: text,
        #: int and bigint directly, the map by the driver's serializer of its type.
        self._encoders: list[Callable[[Any], bytes]] = []
        kinds = dict(FIELD_COLUMNS)
        for name, col in zip(self.columns, metadata[first:], strict=False):
            kind = kinds[name]
            if kind == "text":
                self._encoders.append(str.encode)
            elif kind in ("int", "bigint"):
                self._encoders.append((_INT if kind == "int" else _BIGINT).pack)
            else:
                self._encoders.append(lambda value, t=col.type: t.serialize(value, protocol))
        self._slot = {name: i for i, name in enumerate(self.columns)}
        self._lock = threading.Lock()
        self._in_flight = 0
        self._queue: deque[tuple[Sequence[Row], WriteCallback]] = deque()
        self._idle = threading.Condition(self._lock)
        self._local = threading.local()
        self.last_success = 0.0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def queued(self) -> int:
        return len(self._queue)

    def _field_params(self, row: Row) -> list[Any]:
        """The row's field columns, ``UNSET_VALUE`` where it has none."""
        values = field_values(row.fields, row.parse_error)
        return [values.get(name, UNSET_VALUE) for name in self.columns]

    def partition_of(self, row: Row) -> tuple[Any, ...]:
        """The row's partition key; rows written in one batch must share it.

        In a bucketed table this settles the row's bucket (from the time of its
        ``log_id``), and first gives a ``now``-mode row its ``log_id``, made here from
        this host's clock, so the bucket and the time ``log_id`` holds always agree.
        """
        if not self._bucketed:
            return (row.source, row.type)
        if row.bucket is None:
            if row.log_id is None:
                row.log_id = uuid_from_time(time.time())
            seconds = (row.log_id.time - _UUID_EPOCH_OFFSET) / 10_000_000
            row.bucket = self.layout.bucket_start(seconds)
        return (row.source, row.type, row.bucket)

    def ttl_of(self, row: Row, now: float | None = None) -> int | None:
        """Seconds the row has left to live, counted from its line's time (the time its
        ``log_id`` holds) in event mode on a table with a retention; None otherwise (the
        table's default applies, from the time of writing). 0 or less: already expired."""
        if not self._row_ttl or row.log_id is None:
            return None
        line_time = (row.log_id.time - _UUID_EPOCH_OFFSET) / 10_000_000
        age = (time.time() if now is None else now) - line_time
        return self.layout.ttl - max(0, math.floor(age))

    def expired(self, row: Row) -> bool:
        """True for a row whose line is older than the table's retention: not written."""
        left = self.ttl_of(row)
        return left is not None and left <= 0

    def _ttl(self, row: Row) -> int:
        # Expired rows are not submitted; one that expired while queued lives a second.
        return max(1, self.ttl_of(row) or 1)

    def _params(self, row: Row) -> tuple[Any, ...]:
        params: list[Any] = [row.source, row.type]
        if self._bucketed:
            self.partition_of(row)
            params.append(row.bucket * 1000)  # type: ignore[operator]
        params.append(row.datetime)
        if self._bound_id:
            params.append(row.log_id)
        params.append(row.log)
        if self.columns:
            params += self._field_params(row)
        if self.mode == "event":
            params.append(row.timestamp_us)
        if self._row_ttl:
            params.append(self._ttl(row))
        return tuple(params)

    def _encoded(self, row: Row) -> list[Any]:
        """The row's values as the protocol carries them (text as UTF-8, timeuuid as its
        16 bytes, bigint and timestamp as 8 bytes big-endian, field columns by their type,
        ``UNSET_VALUE`` for a field the row lacks): what binding would produce, at a
        tenth of its cost. Encoding errors (e.g. lone surrogates) raise ValueError."""
        values: list[Any] = [row.source.encode(), row.type.encode()]
        if self._bucketed:
            self.partition_of(row)
            values.append(_BIGINT.pack(row.bucket * 1000))  # type: ignore[operator]
        values.append(row.datetime.encode())
        if self._bound_id:
            assert row.log_id is not None
            values.append(row.log_id.bytes)
        values.append(row.log.encode())
        if self.columns:
            fields: list[Any] = [UNSET_VALUE] * len(self.columns)
            slot, encoders = self._slot, self._encoders
            for name, value in field_values(row.fields, row.parse_error).items():
                i = slot.get(name)
                if i is not None:
                    fields[i] = encoders[i](value)
            values += fields
        if self.mode == "event":
            assert row.timestamp_us is not None
            values.append(_BIGINT.pack(row.timestamp_us))
        if self._row_ttl:
            values.append(_INT.pack(self._ttl(row)))
        return values

    def statement(self, rows: Sequence[Row]) -> Any:
        """The bound insert of one row, or an unlogged batch of rows of one partition.

        The first row of a batch is bound the driver's way (that also sets the routing
        key of the batch, checked against the partition key limits); the others join it
        already encoded, since they have the same types and the same partition key.
        """
        if len(rows) == 1:
            return self._insert.bind(self._params(rows[0]))
        batch = BatchStatement(batch_type=BatchType.UNLOGGED, consistency_level=self._consistency)
        batch.add(self._insert, self._params(rows[0]))
        query_id, add = self._insert.query_id, batch._statements_and_parameters.append
        for row in rows[1:]:
            add((True, query_id, self._encoded(row)))
        batch.is_idempotent = self.mode == "event"
        return batch

    def submit(self, rows: Sequence[Row], callback: WriteCallback) -> None:
        """Write these rows (one partition key) as one request; ``callback`` when done."""
        with self._lock:
            if self._in_flight >= self.max_in_flight:
                self._queue.append((rows, callback))
                return
            self._in_flight += 1
        self._pump((rows, callback))

    def _pump(self, item: tuple[Sequence[Row], WriteCallback]) -> None:
        """Send ``item`` and whatever completes synchronously after it, without recursion.

        When no node is up, ``execute_async`` fails at once and the errback runs inside
        ``add_callbacks``; its follow-up request is handed back here through a
        thread-local list instead of nesting one call deeper per queued request.
        """
        local = self._local
        if getattr(local, "pending", None) is not None:
            local.pending.append(item)
            return
        local.pending = [item]
        try:
            while local.pending:
                rows, callback = local.pending.pop()
                started = time.monotonic()
                try:
                    future = self._session.execute_async(self.statement(rows))
                except Exception as exc:  # binding errors, or the session shut down
                    self._complete(exc, callback, started)
                    continue
                future.add_callbacks(
                    self._on_success,
                    self._on_error,
                    callback_args=(callback, started, future),
                    errback_args=(callback, started, future),
                )
        finally:
            local.pending = None

    def _on_success(
        self, _result: object, callback: WriteCallback, started: float, future: Any
    ) -> None:
        release(future)
        self.last_success = time.monotonic()
        self._complete(None, callback, started)

    def _on_error(
        self, exc: BaseException, callback: WriteCallback, started: float, future: Any
    ) -> None:
        release(future)
        self._complete(exc, callback, started)

    def _complete(self, exc: BaseException | None, callback: WriteCallback, started: float) -> None:
        try:
            callback(exc, time.monotonic() - started)
        except Exception:
            log.exception("write callback failed")
        with self._lock:
            following = self._queue.popleft() if self._queue else None
            if following is None:
                self._in_flight -= 1
                if self._in_flight == 0:
                    self._idle.notify_all()
        if following is not None:
            self._pump(following)

    def drain(self, timeout: float) -> bool:
        """Wait until nothing is in flight or queued; True if so within ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._in_flight or self._queue:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

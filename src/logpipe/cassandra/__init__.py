"""Cassandra: session, schema, prepared inserts, bounded concurrent writes, log_id, queries.

This is the only module that imports cassandra-driver; the rest of logpipe hands it
``Row`` objects and gets back acknowledgements, so the driver's types never leak out.

Driver set-up that matters for speed and correctness:

* the libev event loop when the wheel carries it (much cheaper per request than asyncore),
* token-aware routing over DC-aware round robin, so a write goes straight to a replica,
* protocol v5 with LZ4 (Cassandra 4+), falling back to what the node speaks,
* ``is_idempotent`` only on statements that are: an ``event``-mode insert carries its own
  ``log_id`` and write timestamp, a ``now()`` insert does not, so the driver's retries and
  speculative executions may never repeat it.
"""

from __future__ import annotations

import hashlib
import re
import ssl
import struct
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

from cassandra import (
    AuthenticationFailed,
    ConsistencyLevel,
    InvalidRequest,
    ProtocolVersion,
    RequestValidationException,
    Unauthorized,
)
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import (
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
    NoHostAvailable,
    Session,
)
from cassandra.policies import (
    DCAwareRoundRobinPolicy,
    ExponentialReconnectionPolicy,
    TokenAwarePolicy,
)
from cassandra.query import BatchStatement, BatchType, PreparedStatement, SimpleStatement

from logpipe.config.connections import CassandraConnection
from logpipe.observability import get_logger

try:  # the Linux wheels carry the libev extension; fall back to the default reactor
    from cassandra.io.libevreactor import LibevConnection as _Connection
except ImportError:  # pragma: no cover - depends on the platform's wheel
    _Connection = None  # type: ignore[assignment,misc]

log = get_logger("store")

LOG_ID_MODES = ("now", "event")
CONSISTENCY_LEVELS = tuple(
    name for name in ConsistencyLevel.name_to_value if name not in ("SERIAL", "LOCAL_SERIAL")
)
_KEYSPACE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,47}$")
_DC_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")

# 100-ns intervals between the UUID epoch (1582-10-15) and the Unix epoch.
_UUID_EPOCH_OFFSET = 0x01B21DD213814000
_SUBSECOND_UNITS = 10_000_000
_BIGINT = struct.Struct(">q")


# --- rows and log_id -------------------------------------------------------------------


@dataclass(slots=True)
class Row:
    """One row of ``logs``; ``log_id`` and ``timestamp_us`` are set in ``event`` mode only."""

    source: str
    type: str
    datetime: str
    log: str
    log_id: uuid.UUID | None = None
    timestamp_us: int | None = None


def event_timeuuid(when: datetime, topic: str, partition: int, offset: int) -> uuid.UUID:
    """A version-1 UUID that is a pure function of the request time and the Kafka record.

    * Time: the request time truncated to the second (Apache logs have no finer
      resolution), so ``toTimestamp(log_id)`` is the request time to the second and the
      tutorial's ``maxTimeuuid``/``minTimeuuid`` windows select by request time.
    * Sub-second 100-ns units: ``offset mod 10**7``, so rows of one partition key within
      one second sort in log order (the key of a message is its source, so one source's
      lines share a Kafka partition and come in order).
    * clock_seq (14 bits) and node (48 bits): from a BLAKE2b hash of (topic, partition,
      offset), so distinct records cannot meet on the same UUID in practice while a
      replay of the same record yields the same UUID and overwrites its own row.
    """
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = int(when.timestamp() // 1)
    ticks = (seconds * _SUBSECOND_UNITS + offset % _SUBSECOND_UNITS + _UUID_EPOCH_OFFSET) & (
        (1 << 60) - 1
    )
    digest = hashlib.blake2b(f"{topic}\x00{partition}\x00{offset}".encode(), digest_size=8).digest()
    bits = int.from_bytes(digest, "big")
    clock_seq = bits & 0x3FFF
    node = (bits >> 14) & 0xFFFFFFFFFFFF
    return uuid.UUID(
        int=(ticks & 0xFFFFFFFF) << 96
        | ((ticks >> 32) & 0xFFFF) << 80
        | (((ticks >> 48) & 0x0FFF) | 0x1000) << 64
        | (((clock_seq >> 8) & 0x3F) | 0x80) << 56
        | (clock_seq & 0xFF) << 48
        | node
    )


def timeuuid_datetime(value: uuid.UUID) -> datetime:
    """The time held by a version-1 UUID (what CQL ``toTimestamp`` returns), in UTC."""
    seconds, units = divmod(value.time - _UUID_EPOCH_OFFSET, _SUBSECOND_UNITS)
    return datetime.fromtimestamp(seconds, tz=UTC) + timedelta(microseconds=units // 10)


# --- errors ----------------------------------------------------------------------------


def is_rejection(exc: BaseException) -> bool:
    """True when Cassandra (or the driver, binding values) refuses the data itself.

    Such a row will never be written however often it is retried: it goes to the
    dead-letter topic. Everything else (unavailable, timeouts, no host, overload,
    authorization) is an outage to wait out, and the row is retried.
    """
    if isinstance(exc, Unauthorized | AuthenticationFailed):
        return False
    if isinstance(exc, InvalidRequest | RequestValidationException):
        return True
    # Binding errors: e.g. a partition key over 65535 bytes fails in struct.pack.
    return isinstance(exc, TypeError | ValueError | OverflowError | struct.error)


# --- connecting ------------------------------------------------------------------------


def _split_contact_points(text: str) -> tuple[list[str], int]:
    hosts: list[str] = []
    ports: set[int] = set()
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        if sep and port.isdigit() and not host.endswith(":"):
            hosts.append(host.strip("[]"))
            ports.add(int(port))
        else:
            hosts.append(item)
    if len(ports) > 1:
        raise ValueError(f"contact points must share one port, got {sorted(ports)}")
    if not hosts:
        raise ValueError("no Cassandra contact point given")
    return hosts, (ports.pop() if ports else 9042)


def _ssl_context(conn: CassandraConnection) -> ssl.SSLContext | None:
    if not (conn.ca_file or conn.cert_file):
        return None
    context = ssl.create_default_context(cafile=conn.ca_file)
    # Nodes are usually addressed by IP; the CA still has to vouch for the certificate.
    context.check_hostname = False
    if conn.cert_file:
        context.load_cert_chain(conn.cert_file, conn.key_file)
    return context


def _consistency(name: str) -> int:
    try:
        return ConsistencyLevel.name_to_value[name.upper()]
    except KeyError:
        raise ValueError(f"unknown consistency level {name!r}") from None


class Store:
    """A connected Cassandra session with logpipe's statements."""

    def __init__(
        self,
        conn: CassandraConnection,
        *,
        consistency: str = "LOCAL_QUORUM",
        request_timeout: float = 10.0,
        connect_timeout: float = 5.0,
        executor_threads: int = 2,
    ) -> None:
        hosts, port = _split_contact_points(conn.contact_points)
        self.conn = conn
        self.consistency = _consistency(consistency)
        profile = ExecutionProfile(
            load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()),
            consistency_level=self.consistency,
            request_timeout=request_timeout,
        )
        kwargs: dict[str, Any] = {
            "contact_points": hosts,
            "port": port,
            "execution_profiles": {EXEC_PROFILE_DEFAULT: profile},
            "compression": "lz4" if _has_lz4() else True,
            "connect_timeout": connect_timeout,
            # An outage of a few seconds should be noticed over in seconds, not minutes.
            "reconnection_policy": ExponentialReconnectionPolicy(0.5, 10.0),
            "executor_threads": executor_threads,
        }
        if _Connection is not None:
            kwargs["connection_class"] = _Connection
        if conn.username:
            kwargs["auth_provider"] = PlainTextAuthProvider(conn.username, conn.password or "")
        context = _ssl_context(conn)
        if context is not None:
            kwargs["ssl_context"] = context
        self.cluster, self.session = _connect(kwargs)
        log.info(
            "connected to Cassandra",
            extra={
                "contact_points": hosts,
                "port": port,
                "protocol_version": self.cluster.protocol_version,
                "reactor": (_Connection or object).__name__,
                "tls": context is not None,
                "user": conn.username,
            },
        )

    @property
    def protocol_version(self) -> int:
        return int(self.cluster.protocol_version)

    def is_up(self) -> bool:
        """True when the driver sees at least one node up (cheap; used by /readyz)."""
        try:
            return any(host.is_up for host in self.cluster.metadata.all_hosts())
        except Exception:
            return False

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

    def drop_keyspace(self, keyspace: str) -> None:
        """Used by tests and benchmarks to leave the node as they found it."""
        _check_keyspace(keyspace)
        self.session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=60.0)

    # -- writing -------------------------------------------------------------------

    def writer(
        self,
        keyspace: str,
        *,
        log_id_mode: str = "now",
        max_in_flight: int = 256,
    ) -> RowWriter:
        return RowWriter(self.session, keyspace, log_id_mode, self.consistency, max_in_flight)

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
        where, params = _window(source, log_type, since, until)
        statement = SimpleStatement(
            f"SELECT count(*) FROM {_table(keyspace)} WHERE {where}", fetch_size=5000
        )
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
        where, params = _window(source, log_type, since, until)
        cql = (
            "SELECT log_source, log_type, log_id, toTimestamp(log_id) AS log_time, "
            f"log_datetime, log FROM {_table(keyspace)} WHERE {where}"
        )
        if limit is not None:
            cql += " LIMIT %s"
            params = (*params, int(limit))
        statement = SimpleStatement(cql, fetch_size=page_size)
        for row in self.session.execute(statement, params, timeout=60.0):
            yield {
                "log_source": row.log_source,
                "log_type": row.log_type,
                "log_id": str(row.log_id),
                "log_time": row.log_time.replace(tzinfo=UTC) if row.log_time else None,
                "log_datetime": row.log_datetime,
                "log": row.log,
            }


def _has_lz4() -> bool:
    try:
        import lz4.block  # noqa: F401
    except ImportError:
        return False
    return True


class StoreSetupError(Exception):
    """Cassandra cannot serve this configuration, and waiting will not change that: the
    command ends with this one-line reason instead of retrying."""


class SchemaMissing(StoreSetupError):
    """The keyspace or the table does not exist (``kafka2cassandra schema`` makes them)."""


class CassandraAccessDenied(StoreSetupError):
    """Cassandra answered but refused this client: a wrong user name or password, or a
    server certificate the configured CA does not trust. Retrying cannot help; the
    configuration must be fixed, so this ends the command instead of waiting."""


def _refusal(exc: NoHostAvailable) -> str | None:
    """Why every node refused us, when each of them did so for credentials or TLS."""
    errors = list(exc.errors.values())

    def refused(err: object) -> bool:
        text = str(err).lower()
        return isinstance(err, AuthenticationFailed | ssl.SSLError) or (
            "certificate verify failed" in text or "bad credentials" in text
        )

    if errors and all(refused(err) for err in errors):
        return "; ".join(str(err) for err in errors)
    return None


def _connect(kwargs: dict[str, Any]) -> tuple[Cluster, Session]:
    """Protocol v5 first; a node that does not speak it gets the newest it does.

    Raises CassandraAccessDenied when the nodes refuse the credentials or the
    certificate, NoHostAvailable for everything that waiting may cure.
    """
    cluster = Cluster(protocol_version=ProtocolVersion.V5, **kwargs)
    try:
        return cluster, cluster.connect()
    except NoHostAvailable as exc:
        cluster.shutdown()
        _raise_if_refused(exc, kwargs)
        if not any("protocol" in str(err).lower() for err in exc.errors.values()):
            raise
        log.info("protocol v5 refused; negotiating an older protocol version")
    cluster = Cluster(**kwargs)
    try:
        return cluster, cluster.connect()
    except NoHostAvailable as exc:
        cluster.shutdown()
        _raise_if_refused(exc, kwargs)
        raise
    except BaseException:
        cluster.shutdown()
        raise


def _raise_if_refused(exc: NoHostAvailable, kwargs: dict[str, Any]) -> None:
    reason = _refusal(exc)
    if reason is not None:
        where = ",".join(f"{host}:{kwargs['port']}" for host in kwargs["contact_points"])
        raise CassandraAccessDenied(
            f"Cassandra at {where} refused the connection: {reason}"
        ) from None


def _table(keyspace: str) -> str:
    _check_keyspace(keyspace)
    return f"{keyspace}.logs"


def _check_keyspace(keyspace: str) -> None:
    if not _KEYSPACE_RE.match(keyspace):
        raise ValueError(f"not a valid keyspace name: {keyspace!r}")


def _window(
    source: str, log_type: str, since: datetime | None, until: datetime | None
) -> tuple[str, tuple[Any, ...]]:
    """The WHERE clause of the tutorial's queries: one partition, ``[since, until)``."""
    where = "log_source = %s AND log_type = %s"
    params: tuple[Any, ...] = (source, log_type)
    if since is not None:
        where += " AND log_id >= minTimeuuid(%s)"
        params = (*params, since)
    if until is not None:
        where += " AND log_id < minTimeuuid(%s)"
        params = (*params, until)
    return where, params


# --- schema ----------------------------------------------------------------------------


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
        if self.datacenters:
            pairs = ", ".join(f"'{name}': {count}" for name, count in self.datacenters)
            return "{'class': 'NetworkTopologyStrategy', " + pairs + "}"
        return "{'class': 'SimpleStrategy', 'replication_factor': " + str(self.factor) + "}"


def schema_text() -> str:
    """The packaged ``schema.cql`` (``cql/schema.cql`` at the top is a link to it)."""
    return resources.files("logpipe").joinpath("cql/schema.cql").read_text(encoding="utf-8")


_REPLICATION_RE = re.compile(r"replication\s*=\s*\{[^}]*\}", re.IGNORECASE)
_DEFAULT_KEYSPACE_RE = re.compile(r"\badmintome\b")


def schema_statements(keyspace: str, replication: Replication) -> list[str]:
    """The statements of ``schema.cql`` for this keyspace and replication.

    The file is plain CQL for the local node (keyspace ``admintome``, replication factor
    1), so ``cqlsh -f`` works on it as is; here the keyspace name and the replication map
    are substituted.
    """
    _check_keyspace(keyspace)
    text = "\n".join(
        line for line in schema_text().splitlines() if not line.lstrip().startswith("--")
    )
    text = _DEFAULT_KEYSPACE_RE.sub(keyspace, text)
    text = _REPLICATION_RE.sub(lambda _m: "replication = " + replication.cql(), text)
    return [" ".join(part.split()) for part in text.split(";") if part.strip()]


# --- concurrent writes -----------------------------------------------------------------

WriteCallback = Callable[[BaseException | None, float], None]


class RowWriter:
    """Writes rows with at most ``max_in_flight`` requests outstanding, never blocking.

    ``submit`` sends at once while there is room and queues otherwise; every completion
    sends the next queued request from the driver's event loop. Several rows given
    together become one single-partition unlogged batch, so the caller groups rows by
    partition key (``(log_source, log_type)``) before submitting them together.
    The callback gets the error (or None) and the request's latency in seconds; it runs
    on a driver thread and must be quick.
    """

    def __init__(
        self,
        session: Session,
        keyspace: str,
        log_id_mode: str,
        consistency: int,
        max_in_flight: int,
    ) -> None:
        if log_id_mode not in LOG_ID_MODES:
            raise ValueError(f"log_id mode must be one of {LOG_ID_MODES}, got {log_id_mode!r}")
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self.mode = log_id_mode
        self.max_in_flight = max_in_flight
        self._session = session
        self._consistency = consistency
        table = _table(keyspace)
        if log_id_mode == "event":
            cql = (
                f"INSERT INTO {table} (log_source, log_type, log_datetime, log_id, log) "
                "VALUES (?, ?, ?, ?, ?) USING TIMESTAMP ?"
            )
        else:
            cql = (
                f"INSERT INTO {table} (log_source, log_type, log_datetime, log_id, log) "
                "VALUES (?, ?, ?, now(), ?)"
            )
        try:
            self._insert: PreparedStatement = session.prepare(cql)
        except InvalidRequest as exc:
            if "does not exist" not in str(exc):
                raise
            raise SchemaMissing(
                f"cannot write to {table}: {exc.args[0] if exc.args else exc}; "
                "create it with `kafka2cassandra schema`"
            ) from None
        self._insert.consistency_level = consistency
        self._insert.is_idempotent = log_id_mode == "event"
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

    def _params(self, row: Row) -> tuple[Any, ...]:
        if self.mode == "event":
            return (row.source, row.type, row.datetime, row.log_id, row.log, row.timestamp_us)
        return (row.source, row.type, row.datetime, row.log)

    def _encoded(self, row: Row) -> list[bytes]:
        """The row's values as the protocol carries them (text as UTF-8, timeuuid as its
        16 bytes, bigint as 8 bytes big-endian): what binding would produce, at a tenth
        of its cost. Encoding errors (e.g. lone surrogates) raise ValueError."""
        values = [row.source.encode(), row.type.encode(), row.datetime.encode()]
        if self.mode == "event":
            assert row.log_id is not None and row.timestamp_us is not None
            values += [row.log_id.bytes, row.log.encode(), _BIGINT.pack(row.timestamp_us)]
        else:
            values.append(row.log.encode())
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
                    self._complete,
                    callback_args=(callback, started),
                    errback_args=(callback, started),
                )
        finally:
            local.pending = None

    def _on_success(self, _result: object, callback: WriteCallback, started: float) -> None:
        self.last_success = time.monotonic()
        self._complete(None, callback, started)

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

"""Opening a driver session: cluster options, TLS, protocol fallback, refused connections.

Driver set-up that matters for speed and correctness:

* the libev event loop when the wheel carries it (much cheaper per request than asyncore),
* token-aware routing over DC-aware round robin, so a write goes straight to a replica,
* protocol v5 with LZ4 (Cassandra 4+), falling back to what the node speaks,
* a reconnection policy that notices the end of a short outage within seconds,
* the control connection's queries (the node list, the schema) given the request timeout,
  not the driver's 2 s: a busy node can take longer, and one of those queries timing
  out fails the whole connect.

A node refusing the credentials or the certificate raises ``CassandraAccessDenied`` (a
``StoreSetupError``); everything waiting may cure stays the driver's ``NoHostAvailable``.
"""

from __future__ import annotations

import ssl
from typing import Any

from cassandra import AuthenticationFailed, ConsistencyLevel, ProtocolVersion
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

from logpipe.cassandra.errors import CassandraAccessDenied
from logpipe.config.connections import CassandraConnection
from logpipe.observability import get_logger

try:  # the Linux wheels carry the libev extension; fall back to the default reactor
    from cassandra.io.libevreactor import LibevConnection as _Connection
except ImportError:  # pragma: no cover - depends on the platform's wheel
    _Connection = None  # type: ignore[assignment,misc]

log = get_logger("store")


def split_contact_points(text: str) -> tuple[list[str], int]:
    """Hosts and their one port from ``host[:port],...`` (IPv6 as ``[addr]:port``)."""
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


def consistency_level(name: str) -> int:
    """The driver's value of a consistency level given by name, in any case."""
    try:
        return ConsistencyLevel.name_to_value[name.upper()]
    except KeyError:
        raise ValueError(f"unknown consistency level {name!r}") from None


def _ssl_context(conn: CassandraConnection) -> ssl.SSLContext | None:
    """Client TLS when a CA or client certificate is given: the CA checked, and the host
    name too unless the operator turned that off."""
    if not conn.tls():
        return None
    context = ssl.create_default_context(cafile=conn.ca_file)
    # The driver passes each node's address as the server name when check_hostname is on,
    # and that address is an IP (contact points are resolved, peers are discovered by IP),
    # so each node's certificate needs its IP in its subjectAltName. Turning
    # it off (--cassandra-no-verify-hostname) leaves only the CA check, with a warning at
    # every start (CassandraConnection.from_options).
    context.check_hostname = conn.verify_hostname
    if conn.cert_file:
        context.load_cert_chain(conn.cert_file, conn.key_file)
    return context


def _has_lz4() -> bool:
    try:
        import lz4.block  # noqa: F401
    except ImportError:
        return False
    return True


def open_session(
    conn: CassandraConnection,
    hosts: list[str],
    port: int,
    consistency: int,
    *,
    request_timeout: float,
    connect_timeout: float,
    executor_threads: int,
) -> tuple[Cluster, Session]:
    """Connect to ``hosts:port`` with logpipe's options; see the module docstring."""
    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()),
        consistency_level=consistency,
        request_timeout=request_timeout,
    )
    kwargs: dict[str, Any] = {
        "contact_points": hosts,
        "port": port,
        "execution_profiles": {EXEC_PROFILE_DEFAULT: profile},
        "compression": "lz4" if _has_lz4() else True,
        "connect_timeout": connect_timeout,
        "control_connection_timeout": request_timeout,
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
    cluster, session = _connect(kwargs)
    log.info(
        "connected to Cassandra",
        extra={
            "contact_points": hosts,
            "port": port,
            "protocol_version": cluster.protocol_version,
            "reactor": (_Connection or object).__name__,
            "tls": context is not None,
            "tls_verify_hostname": context is not None and context.check_hostname,
            "user": conn.username,
        },
    )
    return cluster, session


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
